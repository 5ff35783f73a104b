/* SPDX-License-Identifier: MIT */
/* The broker of SPEC section 12: the service (broker.c), its client, which
 * is the `broker` store (store_broker.c), and the system key file that
 * `add --system` writes (system_keys.c). */
#ifndef DS_BROKER_H
#define DS_BROKER_H

#include <stddef.h>
#include "base/util.h"

#define BROKER_SOCKET_DEFAULT "/run/dashscope-credential/broker.sock"
#define BROKER_USER "dashscope-credential"
#define BROKER_READ_TIMEOUT 5 /* seconds a caller has to send its request */
#define BROKER_ANSWER_MAX (64 * 1024)
#define BROKER_CLIENT_TIMEOUT 45 /* seconds for a whole exchange, mint included */

/* The broker's socket: DASHSCOPE_CREDENTIAL_BROKER or the default. */
void broker_socket_path(char *out, size_t n);

/* The system key file: DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE (tests) or
 * $(localstatedir)/lib/dashscope-credential/keys. */
void system_keyfile_path(char *out, size_t n);

/* `dashscope-credential broker`: the command's entry (cmd/cmd.h names it
 * for main). */
struct app;
int cmd_broker(struct app *app, struct ds_err *err);

#endif
