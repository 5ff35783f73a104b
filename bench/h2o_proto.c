/* SPDX-License-Identifier: MIT */
/* A measuring stick, not the proxy: the least a proxy on h2o's library
 * (libh2o-evloop, Debian's 2.2.5) does for the requests bench/proxy sends:
 * one event loop, h2o's HTTP/1.1 server on loopback, its reverse-proxy
 * handler to the TLS upstream (certificate and name verified, kept-alive
 * pool), and a handler before it that puts the key's Authorization in the
 * client's place. No rules, no key minting, no peer check: what it costs is
 * the floor a rewrite of the proxy's door on this library would build on
 * (issue 28). bench/proxy runs it beside nginx and HAProxy when
 * BENCH_H2O=1.
 *
 * It is started as bench/proxy starts a DS_BASE build:
 *   h2o_proto proxy --quiet --listen 127.0.0.1:0 --print-env --for openai
 * with DASHSCOPE_CREDENTIAL_ENDPOINT (https://HOST:PORT) and
 * DASHSCOPE_CREDENTIAL_CA_FILE in the environment, and prints
 * OPENAI_BASE_URL=http://127.0.0.1:PORT/compatible-mode/v1. */
#include <arpa/inet.h>
#include <h2o.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;
static const char bearer[] = "Bearer sk-bench-upstream";

/* the client's credentials out, the key's in; -1 hands the request on to
 * the reverse-proxy handler registered after this one */
static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	ssize_t i;

	(void)self;
	while ((i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1)) != -1)
		h2o_delete_header(&req->headers, i);
	h2o_add_header(&req->pool, &req->headers, H2O_TOKEN_AUTHORIZATION, NULL, bearer,
		       sizeof(bearer) - 1);
	return -1;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
	h2o_socket_t *sock;

	if (err)
		return;
	sock = h2o_evloop_socket_accept(listener);
	if (sock)
		h2o_accept(&accept_ctx, sock);
}

static SSL_CTX *upstream_tls(const char *ca)
{
	SSL_CTX *t = SSL_CTX_new(TLS_client_method());

	if (!t || SSL_CTX_load_verify_locations(t, ca, NULL) != 1)
		return NULL;
	SSL_CTX_set_verify(t, SSL_VERIFY_PEER, NULL);
	return t;
}

int main(void)
{
	const char *endpoint = getenv("DASHSCOPE_CREDENTIAL_ENDPOINT");
	const char *ca = getenv("DASHSCOPE_CREDENTIAL_CA_FILE");
	h2o_proxy_config_vars_t vars = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	h2o_hostconf_t *host;
	h2o_pathconf_t *path;
	h2o_handler_t *handler;
	h2o_evloop_t *loop;
	h2o_socket_t *sock;
	h2o_url_t upstream;
	int fd, one = 1;
	char url[256];

	/* h2o 2.2.5 checks the certificate against the URL's host as a DNS
	 * name (not an address): the peers are told "localhost" too */
	if (endpoint && strncmp(endpoint, "https://127.0.0.1:", 18) == 0) {
		snprintf(url, sizeof(url), "https://localhost:%s", endpoint + 18);
		endpoint = url;
	}
	if (!endpoint || !ca || h2o_url_parse(endpoint, SIZE_MAX, &upstream) != 0) {
		fputs("h2o_proto: DASHSCOPE_CREDENTIAL_ENDPOINT and _CA_FILE are needed\n", stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	h2o_config_init(&config);
	config.http1.req_timeout = 300 * 1000;
	config.proxy.emit_x_forwarded_headers = 0;
	config.proxy.emit_via_header = 0;
	host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	path = h2o_config_register_path(host, "/", 0);
	handler = h2o_create_handler(path, sizeof(*handler));
	handler->on_req = on_req;
	vars.io_timeout = 300 * 1000;
	vars.keepalive_timeout = 300 * 1000;
	vars.preserve_host = 0;
	vars.ssl_ctx = upstream_tls(ca);
	if (!vars.ssl_ctx) {
		fputs("h2o_proto: cannot load the CA file\n", stderr);
		return 2;
	}
	h2o_proxy_register_reverse_proxy(path, &upstream, &vars);

	loop = h2o_evloop_create();
	h2o_context_init(&ctx, loop, &config);
	accept_ctx.ctx = &ctx;
	accept_ctx.hosts = config.hosts;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, SOMAXCONN) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		perror("h2o_proto: listen");
		return 2;
	}
	printf("OPENAI_BASE_URL=http://127.0.0.1:%u/compatible-mode/v1\n", ntohs(sin.sin_port));
	fflush(stdout);
	sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	h2o_socket_read_start(sock, on_accept);
	/* -1 is an interrupted epoll_wait (a tracer attaching, a signal) */
	for (;;)
		h2o_evloop_run(loop, INT32_MAX);
}
