/* SPDX-License-Identifier: MIT */
/* A measuring stick, not the proxy: libevent's evhttp server (Debian's
 * libevent 2.1), the other event-driven HTTP library issue 28 names,
 * answering 200 to every request its parser accepts. bench/door_probe.py
 * sends it the malformed requests the proxy's door refuses: a 200 is a
 * request a proxy built on evhttp would hand on, unless its own handler
 * could still tell (it sees the parsed fields only).
 *
 *   cc -O2 -o evhttp_door bench/evhttp_door.c $(pkg-config --cflags --libs libevent)
 *   ./evhttp_door 8420 & python3 bench/door_probe.py x evhttp=8420 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>

static void on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evbuffer_new();

	(void)arg;
	if (!out) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add_printf(out, "{}\n");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

int main(int argc, char **argv)
{
	struct event_base *base = event_base_new();
	struct evhttp *http = base ? evhttp_new(base) : NULL;
	int port = argc > 1 ? atoi(argv[1]) : 0;

	if (!http || port <= 0 || port > 65535 ||
	    evhttp_bind_socket(http, "127.0.0.1", (unsigned short)port)) {
		fprintf(stderr, "usage: evhttp_door PORT (a free port on 127.0.0.1)\n");
		return 2;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(http, on_request, NULL);
	event_base_dispatch(base);
	return 0;
}
