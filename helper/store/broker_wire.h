/* SPDX-License-Identifier: MIT */
/* The broker's wire (SPEC section 12), for both its ends: the service in
 * broker/ and its client, the broker store (store_broker.c). The field
 * names, limits, timeouts and the socket live here and nowhere else; this
 * header sits in store/ so that the client never includes broker/. */
#ifndef DS_BROKER_WIRE_H
#define DS_BROKER_WIRE_H

#include <stddef.h>

#define BROKER_SOCKET_DEFAULT "/run/dashscope-credential/broker.sock"
#define BROKER_SOCKET_ENV "DASHSCOPE_CREDENTIAL_BROKER"

#define BROKER_READ_TIMEOUT 5 /* seconds a caller has to send its request */
#define BROKER_CLIENT_TIMEOUT 45 /* seconds for a whole exchange, mint included */
#define BROKER_ANSWER_MAX (64 * 1024)
#define BROKER_REQUEST_MAX (16 * 1024) /* bytes of a request, refused over it */

/* The request: "name=value" lines of SPEC section 4 up to an empty line.
 * action= is the broker's own; profile= and lifetime= are read by the
 * protocol reader. An action is shorter than BROKER_ACTION_MAX bytes. */
#define BROKER_FIELD_ACTION "action"
#define BROKER_ACTION_GET "get"
#define BROKER_ACTION_LIST "list"
#define BROKER_ACTION_MAX 16
#define BROKER_FIELD_PROFILE "profile"
#define BROKER_FIELD_LIFETIME "lifetime"

/* The answer, which ends when the broker closes: status=ok and the get
 * fields of SPEC section 4, or for list one profile[] line per profile
 * ("NAME,REGION,WORKSPACE,PLAN"); or status=error, code= (an exit code of
 * SPEC section 7) and message=. */
/* A busy broker (its connection caps reached) answers with this prefix,
 * then message=; the client tries again within its timeout. */
#define BROKER_BUSY_PREFIX "status=error\ncode=5\nbusy=1\n"
#define BROKER_FIELD_STATUS "status"
#define BROKER_STATUS_OK "ok"
#define BROKER_STATUS_ERROR "error"
#define BROKER_FIELD_CODE "code"
#define BROKER_FIELD_MESSAGE "message"
#define BROKER_FIELD_LIST_ITEM "profile[]"
#define BROKER_LIST_SEP ","
#define BROKER_FIELD_REGION "region"
#define BROKER_FIELD_WORKSPACE "workspace"
#define BROKER_FIELD_PLAN "plan"
#define BROKER_FIELD_PROTOCOL "protocol"
#define BROKER_FIELD_HOST "host"
#define BROKER_FIELD_USERNAME "username"
#define BROKER_FIELD_PASSWORD "password"
#define BROKER_FIELD_EXPIRY "password_expiry_utc"
#define BROKER_FIELD_BASE_URL "base_url"
#define BROKER_FIELD_ANTHROPIC_BASE_URL "anthropic_base_url"
#define BROKER_FIELD_NATIVE_BASE_URL "native_base_url"

/* The broker's socket: BROKER_SOCKET_ENV when set, else the default
 * (store_broker.c). */
void broker_socket_path(char *out, size_t n);

#endif
