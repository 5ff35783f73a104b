/* SPDX-License-Identifier: MIT */
/* What the helper knows about its surroundings, for status, doctor and
 * setup: the variables that win over it inside tools, where the broker
 * and the standalone proxy listen, and where tools keep their settings. */
#ifndef DS_TOOLS_H
#define DS_TOOLS_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <sys/socket.h>
#include "conf/conf.h"
#include "proxy/proxy.h"

/* The standalone proxy's address (SPEC section 10; the port is the
 * proxy's own, proxy.h). */
#define TOOLS_PROXY_HOST "127.0.0.1"
#define TOOLS_PROXY_PORT ((unsigned)PROXY_DEFAULT_PORT)

/* The largest tool settings file read (JSON or TOML). */
#define TOOLS_SETTINGS_MAX (4 * 1024 * 1024)

/* A variable that, when it holds a key, is used by tools instead of the
 * helper. */
struct winner {
	const char *name;
	const char *why; /* what it wins over, and the fix */
};

/* The winners set in this environment, in table order; returns how many
 * were written to out (at most n). */
size_t tools_winners(const struct winner **out, size_t n);

/* Describes a key variable's value without showing it. */
const char *tools_key_kind(const char *value);

/* When value is a temporary key that `env` or `exec` put there (it left
 * DASHSCOPE_CREDENTIAL_EXPIRES_AT beside it): its expiry, Unix seconds.
 * 0 otherwise. */
long long tools_helper_set_expiry(const char *value);

/* 1 when something accepts a connection there (nothing is sent). */
int tools_unix_answers(const char *path);
int tools_tcp_answers(const char *host, unsigned port);

/* 1 when another uid listens at addr (the kernel's word, sock_diag):
 * out gets "uid N (name)". A tool configured for that address would hand
 * that user its proxy key and prompts. */
int tools_port_holder(const struct sockaddr *addr, char *out, size_t n);
/* The same for the standalone proxy's default address. */
/* Whether another uid listens on [::1]:port; out names it. */
int tools_loopback_v6_holder(unsigned port, char *out, size_t n);

int tools_proxy_port_holder(char *out, size_t n);

/* Why the profile of a request without criteria would be chosen:
 * "option", "DASHSCOPE_CREDENTIAL_PROFILE", "user config", "system
 * config"; NULL when there is no default. */
const char *tools_default_source(const struct conf *c, const char *option);

/* ~/.claude/settings.json ($CLAUDE_CONFIG_DIR/settings.json when set);
 * ~/.qwen/settings.json. HOME follows the rules of files.h (absolute,
 * ours); a path that does not fit is an error. */
int tools_claude_settings(char *out, size_t n, struct ds_err *err);
int tools_qwen_settings(char *out, size_t n, struct ds_err *err);
/* Codex's home: $CODEX_HOME when set, else ~/.codex; config.toml and the
 * profile files (NAME.config.toml) are in it. */
int tools_codex_home(char *out, size_t n, struct ds_err *err);

/* Claude Code's settings files, lowest precedence first: the user's, the
 * project's (.claude/settings.json in the working directory) and the
 * local one (.claude/settings.local.json); each later one wins. */
enum { CLAUDE_USER, CLAUDE_PROJECT, CLAUDE_LOCAL, CLAUDE_FILES };
int tools_claude_files(char out[CLAUDE_FILES][PATH_MAX], struct ds_err *err);

/* A tool's JSON settings: *out is the object (json_decref it), NULL when
 * the file does not exist. DS_EINPUT when it is not a JSON object. */
int tools_json_read(const char *path, json_t **out, struct ds_err *err);

/* The variable of Claude Code's that root's "env" sets to a key, which
 * Claude Code sends in place of apiKeyHelper's and the environment's:
 * ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN; NULL when neither is set. */
const char *tools_claude_env_key(json_t *root);

#endif
