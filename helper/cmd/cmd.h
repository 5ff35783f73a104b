/* SPDX-License-Identifier: MIT */
/* The commands main dispatches to, one file each in cmd/ (the broker's is
 * broker/broker.c, declared in broker/broker.h). Each takes the parsed
 * command line in app and returns a status with its one sentence in err. */
#ifndef DS_CMD_H
#define DS_CMD_H

#include "core/app.h"
#include "base/util.h"

int cmd_add(struct app *app, struct ds_err *err);
int cmd_list(struct app *app, struct ds_err *err);
int cmd_remove(struct app *app, struct ds_err *err);
int cmd_get(struct app *app, struct ds_err *err);
int cmd_store(struct app *app, struct ds_err *err);
int cmd_erase(struct app *app, struct ds_err *err);
int cmd_capability(struct app *app, struct ds_err *err);
int cmd_token(struct app *app, struct ds_err *err);
int cmd_env(struct app *app, struct ds_err *err);
int cmd_exec(struct app *app, struct ds_err *err);
int cmd_proxy(struct app *app, struct ds_err *err);
int cmd_regions(struct app *app, struct ds_err *err);
int cmd_doctor(struct app *app, struct ds_err *err);

int cmd_status(struct app *app, struct ds_err *err);
int cmd_setup(struct app *app, struct ds_err *err);
int cmd_rotate(struct app *app, struct ds_err *err);
/* add --access-key (rotate.c) */
int cmd_add_access_key(struct app *app, struct ds_err *err);

/* Prints a command's --help: its usage line and every option (help.c). */
void help_command(const char *name, const char *usage, FILE *out);

#endif
