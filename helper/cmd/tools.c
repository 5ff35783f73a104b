/* SPDX-License-Identifier: MIT */
/* The helper's surroundings: variables that win over it, the broker and
 * proxy addresses, tools' settings files. */
#include "config.h"
#include "cmd/tools.h"
#include "base/files.h"
#include "base/peer_uid.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const struct winner winners[] = {
	{ "ANTHROPIC_API_KEY", "Claude Code sends it as x-api-key in place of apiKeyHelper's key" },
	{ "ANTHROPIC_AUTH_TOKEN",
	  "Claude Code sends it as Authorization: Bearer in place of apiKeyHelper's key" },
	{ "OPENAI_API_KEY", "Qwen Code and the OpenAI SDKs use it instead of the helper" },
	{ "DASHSCOPE_API_KEY",
	  "the DashScope SDKs use it instead of the helper's key file (DASHSCOPE_API_KEY_FILE_PATH)" },
};

size_t tools_winners(const struct winner **out, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < sizeof(winners) / sizeof(winners[0]) && k < n; i++) {
		const char *v = getenv(winners[i].name);

		if (v && *v)
			out[k++] = &winners[i];
	}
	return k;
}

const char *tools_key_kind(const char *value)
{
	if (!strncmp(value, "sk-local-", 9))
		return "a proxy key";
	if (!strncasecmp(value, "st-", 3))
		return "a temporary key";
	if (!strncasecmp(value, "sk-", 3))
		return "a long-lived key";
	return "a value";
}

long long tools_helper_set_expiry(const char *value)
{
	const char *at = getenv("DASHSCOPE_CREDENTIAL_EXPIRES_AT");
	unsigned long v;

	if (!value || strncmp(value, "st-", 3) || !at || ds_parse_ulong(at, 1UL << 40, &v))
		return 0;
	return (long long)v;
}

/* Connects without blocking and waits at most 300 ms: a status line must
 * not hang on a wedged listener. */
static int connect_answers(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct pollfd pfd = { fd, POLLOUT, 0 };
	int soerr = 0;
	socklen_t slen = sizeof(soerr);
	int ok = 0;

	if (connect(fd, sa, len) == 0)
		ok = 1;
	else if (errno == EAGAIN) /* a Unix listener with a full backlog */
		ok = 1;
	else if (errno == EINPROGRESS && poll(&pfd, 1, 300) == 1 &&
		 getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) == 0 && soerr == 0)
		ok = 1;
	close(fd);
	return ok;
}

int tools_unix_answers(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return 0;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return 0;
	return connect_answers(fd, (struct sockaddr *)&sun, sizeof(sun));
}

int tools_tcp_answers(const char *host, unsigned port)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return 0;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return 0;
	return connect_answers(fd, (struct sockaddr *)&sin, sizeof(sin));
}

int tools_port_holder(const struct sockaddr *addr, char *out, size_t n)
{
	struct passwd pw, *found = NULL;
	char buf[1024];
	uid_t uid;

	if (peer_uid_of_socket(addr, NULL, &uid) != 0 || uid == geteuid())
		return 0;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found)
		snprintf(out, n, "uid %u (%s)", (unsigned)uid, found->pw_name);
	else
		snprintf(out, n, "uid %u", (unsigned)uid);
	return 1;
}

int tools_loopback_v6_holder(unsigned port, char *out, size_t n)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons((unsigned short)port);
	sin6.sin6_addr = in6addr_loopback;
	return tools_port_holder((struct sockaddr *)&sin6, out, n);
}

int tools_proxy_port_holder(char *out, size_t n)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)TOOLS_PROXY_PORT);
	if (inet_pton(AF_INET, TOOLS_PROXY_HOST, &sin.sin_addr) != 1)
		return 0;
	/* "localhost" may resolve to ::1 first: a listener of another user
	 * there gets what tools send to localhost:8418 */
	return tools_port_holder((struct sockaddr *)&sin, out, n) ||
	       tools_loopback_v6_holder(TOOLS_PROXY_PORT, out, n);
}

const char *tools_default_source(const struct conf *c, const char *option)
{
	if (option)
		return "option";
	if (c->default_profile[0])
		return c->default_from ? c->default_from : "configuration";
	return NULL;
}

int tools_claude_settings(char *out, size_t n, struct ds_err *err)
{
	const char *dir = getenv("CLAUDE_CONFIG_DIR");
	char home[PATH_MAX];
	int rc;

	if (dir && *dir)
		return path_format(out, n, err, "%s/settings.json", dir);
	rc = path_home(home, sizeof(home), err);
	return rc ? rc : path_format(out, n, err, "%s/.claude/settings.json", home);
}

int tools_qwen_settings(char *out, size_t n, struct ds_err *err)
{
	char home[PATH_MAX];
	int rc = path_home(home, sizeof(home), err);

	return rc ? rc : path_format(out, n, err, "%s/.qwen/settings.json", home);
}

int tools_codex_home(char *out, size_t n, struct ds_err *err)
{
	const char *dir = getenv("CODEX_HOME");
	char home[PATH_MAX];
	int rc;

	if (dir && *dir)
		return path_format(out, n, err, "%s", dir);
	rc = path_home(home, sizeof(home), err);
	return rc ? rc : path_format(out, n, err, "%s/.codex", home);
}

int tools_claude_files(char out[CLAUDE_FILES][PATH_MAX], struct ds_err *err)
{
	char cwd[PATH_MAX];
	int rc = tools_claude_settings(out[CLAUDE_USER], PATH_MAX, err);

	if (rc)
		return rc;
	/* no working directory: no project files to read */
	if (!getcwd(cwd, sizeof(cwd))) {
		out[CLAUDE_PROJECT][0] = out[CLAUDE_LOCAL][0] = '\0';
		return DS_OK;
	}
	rc = path_format(out[CLAUDE_PROJECT], PATH_MAX, err, "%s/.claude/settings.json",
			 strcmp(cwd, "/") ? cwd : "");
	if (!rc)
		rc = path_format(out[CLAUDE_LOCAL], PATH_MAX, err, "%s/.claude/settings.local.json",
				 strcmp(cwd, "/") ? cwd : "");
	return rc;
}

int tools_json_read(const char *path, json_t **out, struct ds_err *err)
{
	json_error_t je;
	char *buf = NULL;
	size_t len;
	int rc;

	*out = NULL;
	if (!path[0])
		return DS_OK;
	rc = file_read(path, 0, TOOLS_SETTINGS_MAX, "settings file", DS_EINPUT, &buf, &len, NULL,
		       err);
	if (rc || !buf)
		return rc;
	*out = json_loadb(buf, len, 0, &je);
	explicit_bzero(buf, len);
	free(buf);
	if (json_is_object(*out))
		return DS_OK;
	json_decref(*out);
	*out = NULL;
	return ds_err_set(err, DS_EINPUT, "%s is not a JSON object (line %d: %s)", path, je.line,
			  je.text);
}

const char *tools_claude_env_key(json_t *root)
{
	static const char *const names[] = { "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN" };
	json_t *env = json_object_get(root, "env");

	for (size_t i = 0; i < 2; i++) {
		const char *v = json_string_value(json_object_get(env, names[i]));

		if (v && *v)
			return names[i];
	}
	return NULL;
}
