/* SPDX-License-Identifier: MIT */
/* What the broker's service (SPEC section 12) and `add --system`
 * (system_keys.c) share: the service user and the system key file. The
 * wire, which the client uses too, is store/broker_wire.h. */
#ifndef DS_BROKER_H
#define DS_BROKER_H

#include <stddef.h>
#include <sys/types.h>
#include "base/util.h"

#define BROKER_USER "dashscope-credential"

/* The system key file: DASHSCOPE_CREDENTIAL_SYSTEM_KEYFILE (tests) or
 * $(localstatedir)/lib/dashscope-credential/keys. */
void system_keyfile_path(char *out, size_t n);

/* Root acting as the service user for a while, as OpenSSH's
 * temporarily_use_uid does: effective uid, gid and groups only, so that
 * the file store's checks (owner, modes) hold and what root writes in
 * the system key file's directory is the service user's.
 * system_keys_as_root puts back what saved holds; root only. */
struct system_ids {
	gid_t gid;
	gid_t groups[64];
	int ngroups;
};
int system_keys_as_service(struct system_ids *saved, struct ds_err *err);
int system_keys_as_root(const struct system_ids *saved, struct ds_err *err);

/* `dashscope-credential broker`: the command main runs (broker.c). */
struct app;
int cmd_broker(struct app *app, struct ds_err *err);

#endif
