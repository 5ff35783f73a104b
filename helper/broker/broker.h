/* SPDX-License-Identifier: MIT */
/* What the broker's service (SPEC section 12) and `add --system`
 * (system_keys.c) share: the service user and the system key file. The
 * wire, which the client uses too, is store/broker_wire.h. */
#ifndef DS_BROKER_H
#define DS_BROKER_H

#include <stddef.h>
#include "base/util.h"

#define BROKER_USER "dashscope-credential"

/* The system key file: DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE (tests) or
 * $(localstatedir)/lib/dashscope-credential/keys. */
void system_keyfile_path(char *out, size_t n);

/* `dashscope-credential broker`: the command main runs (broker.c). */
struct app;
int cmd_broker(struct app *app, struct ds_err *err);

#endif
