/* SPDX-License-Identifier: MIT */
/* dashscope-credential: keeps long-lived Model Studio keys in a secret
 * store and hands out temporary keys. This file parses the command line,
 * dispatches to a command, and prints the one error sentence. */
#include "config.h"
#include "cmd/cmd.h"
#include "broker/broker.h"
#include "base/debug.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	OPT_PLAN = 256,
	OPT_JSON,
	OPT_VERIFY,
	OPT_DEFAULT,
	OPT_SHELL,
	OPT_FOR,
	OPT_NO_KEY,
	OPT_ONLINE,
	OPT_LISTEN,
	OPT_LOG_STDERR,
	OPT_IDLE,
	OPT_SYSTEM,
	OPT_PRINT_ENV,
	OPT_NEW_KEY,
	OPT_QUIET,
	OPT_KEY_FILE,
	OPT_DRY_RUN,
	OPT_DEBUG,
	OPT_LOG,
	OPT_PRINT_KEY,
	OPT_SEALED,
	OPT_CHECK,
	OPT_ACCESS_KEY,
};

/* Which command-specific options each command takes (global options are
 * accepted everywhere) and how many arguments: a command sees no more
 * than max_args, and says itself what is missing below its minimum. */
struct command {
	const char *name;
	int (*fn)(struct app *, struct ds_err *);
	unsigned opts; /* bit (OPT_x - OPT_JSON) */
	int needs_conf;
	int max_args; /* ANY_ARGS: a command line of its own follows */
	const char *usage;
};

#define ANY_ARGS (-1)

#define O(x) (1u << ((x)-OPT_JSON))

static const struct command commands[] = {
	{ "add", cmd_add,
	  O(OPT_VERIFY) | O(OPT_DEFAULT) | O(OPT_SYSTEM) | O(OPT_SEALED) | O(OPT_ACCESS_KEY), 1, 1,
	  "add [PROFILE] --region REGION [--workspace ID] [--plan payg|coding] [--verify] [--default] [--system [--sealed]] | add --access-key [--system] PROFILE" },
	{ "rotate", cmd_rotate, O(OPT_SYSTEM) | O(OPT_CHECK), 1, 1,
	  "rotate [--system] PROFILE | rotate --check [--system] [PROFILE]" },
	{ "list", cmd_list, O(OPT_JSON) | O(OPT_SYSTEM), 1, 0, "list [--json] [--system]" },
	{ "remove", cmd_remove, O(OPT_SYSTEM), 1, 1, "remove PROFILE [--system]" },
	{ "token", cmd_token, 0, 1, 0,
	  "token [-p PROFILE] [-r REGION] [-w ID] [--plan PLAN] [-l SECONDS]" },
	{ "env", cmd_env, O(OPT_SHELL) | O(OPT_FOR) | O(OPT_NO_KEY), 1, 0,
	  "env [--shell sh|fish|csh|dotenv|json|pam] [--for LIST] [--no-key]" },
	{ "exec", cmd_exec, O(OPT_FOR) | O(OPT_KEY_FILE), 1, ANY_ARGS,
	  "exec [--for LIST] [--key-file] [-- COMMAND [ARG...]]" },
	{ "proxy", cmd_proxy,
	  O(OPT_FOR) | O(OPT_LISTEN) | O(OPT_PRINT_ENV) | O(OPT_SHELL) | O(OPT_NEW_KEY) |
		  O(OPT_QUIET) | O(OPT_LOG) | O(OPT_PRINT_KEY),
	  1, ANY_ARGS,
	  "proxy [--for LIST] [--listen ADDR] [--quiet] [--log FILE|-] [--print-env [--shell S]] [--print-key] [--new-key] [-- COMMAND [ARG...]]" },
	{ "regions", cmd_regions, O(OPT_JSON), 0, 0, "regions [--json]" },
	{ "doctor", cmd_doctor, O(OPT_ONLINE) | O(OPT_JSON), 0, 0, "doctor [--online] [--json]" },
	{ "status", cmd_status, O(OPT_JSON), 0, 0, "status [--json]" },
	{ "setup", cmd_setup, O(OPT_DRY_RUN), 1, 1,
	  "setup claude-code|qwen-code|codex [-p PROFILE] [--dry-run]" },
	{ "get", cmd_get, 0, 1, 0, "get < request" },
	{ "store", cmd_store, 0, 1, 0, "store < request" },
	{ "erase", cmd_erase, 0, 1, 0, "erase < request" },
	{ "capability", cmd_capability, 0, 0, 0, "capability" },
	{ "broker", cmd_broker, O(OPT_LISTEN) | O(OPT_LOG_STDERR) | O(OPT_IDLE), 1, 0,
	  "broker [--listen PATH] [--log-stderr] [--idle-timeout SECONDS]" },
};

static const struct option long_opts[] = {
	{ "profile", required_argument, NULL, 'p' },
	{ "region", required_argument, NULL, 'r' },
	{ "workspace", required_argument, NULL, 'w' },
	{ "plan", required_argument, NULL, OPT_PLAN },
	{ "lifetime", required_argument, NULL, 'l' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "default", no_argument, NULL, OPT_DEFAULT },
	{ "shell", required_argument, NULL, OPT_SHELL },
	{ "for", required_argument, NULL, OPT_FOR },
	{ "no-key", no_argument, NULL, OPT_NO_KEY },
	{ "online", no_argument, NULL, OPT_ONLINE },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "log-stderr", no_argument, NULL, OPT_LOG_STDERR },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE },
	{ "system", no_argument, NULL, OPT_SYSTEM },
	{ "print-env", no_argument, NULL, OPT_PRINT_ENV },
	{ "new-key", no_argument, NULL, OPT_NEW_KEY },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "key-file", no_argument, NULL, OPT_KEY_FILE },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "debug", no_argument, NULL, OPT_DEBUG },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "print-key", no_argument, NULL, OPT_PRINT_KEY },
	{ "sealed", no_argument, NULL, OPT_SEALED },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "access-key", no_argument, NULL, OPT_ACCESS_KEY },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
	fputs("Usage: dashscope-credential [OPTIONS] COMMAND [ARGS]\n"
	      "Keeps Model Studio (DashScope) API keys in a secret store and hands out\n"
	      "temporary keys.\n\nCommands:\n",
	      out);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i].usage);
	fputs("\nGlobal options:\n"
	      "  -p, --profile NAME     the profile to use\n"
	      "  -r, --region REGION    region id or alias (see 'regions')\n"
	      "  -w, --workspace ID     workspace id\n"
	      "      --plan PLAN        payg or coding\n"
	      "  -l, --lifetime SECONDS lifetime of a temporary key, 1..1800 (default 60)\n"
	      "  -h, --help             this help\n"
	      "  -V, --version          the version\n"
	      "      --debug            trace files read, store, profile selection and URLs\n"
	      "                         to standard error (never a key)\n"
	      "\nSee dashscope-credential(1).\n",
	      out);
}

static const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* Returns -1 to continue, or an exit code. in_order stops at the first
 * non-option (the command name; exec's command), so what follows it is
 * not taken for ours. */
static int parse_args(int argc, char **argv, int in_order, struct opts *o, unsigned *given,
		      struct ds_err *err)
{
	int c;

	opterr = 0;
	optind = 0; /* a fresh scan each time */
	while ((c = getopt_long(argc, argv, in_order ? "+:p:r:w:l:hV" : ":p:r:w:l:hV", long_opts,
				NULL)) != -1) {
		switch (c) {
		case 'p':
			o->profile = optarg;
			break;
		case 'r':
			o->region = optarg;
			break;
		case 'w':
			o->workspace = optarg;
			break;
		case 'l':
			o->lifetime = optarg;
			break;
		case OPT_PLAN:
			o->plan = optarg;
			break;
		case 'h':
			o->help = 1;
			break;
		case 'V':
			puts(PACKAGE_NAME " " PACKAGE_VERSION);
			return 0;
		case OPT_SHELL:
			o->shell = optarg;
			*given |= O(c);
			break;
		case OPT_FOR:
			o->for_list = optarg;
			*given |= O(c);
			break;
		case OPT_JSON:
			o->json = 1;
			*given |= O(c);
			break;
		case OPT_VERIFY:
			o->verify = 1;
			*given |= O(c);
			break;
		case OPT_DEFAULT:
			o->make_default = 1;
			*given |= O(c);
			break;
		case OPT_NO_KEY:
			o->no_key = 1;
			*given |= O(c);
			break;
		case OPT_ONLINE:
			o->online = 1;
			*given |= O(c);
			break;
		case OPT_LISTEN:
			o->listen = optarg;
			*given |= O(c);
			break;
		case OPT_LOG_STDERR:
			o->log_stderr = 1;
			*given |= O(c);
			break;
		case OPT_IDLE:
			o->idle = optarg;
			*given |= O(c);
			break;
		case OPT_SYSTEM:
			o->system = 1;
			*given |= O(c);
			break;
		case OPT_PRINT_ENV:
			o->print_env = 1;
			*given |= O(c);
			break;
		case OPT_NEW_KEY:
			o->new_key = 1;
			*given |= O(c);
			break;
		case OPT_QUIET:
			o->quiet = 1;
			*given |= O(c);
			break;
		case OPT_KEY_FILE:
			o->key_file = 1;
			*given |= O(c);
			break;
		case OPT_DRY_RUN:
			o->dry_run = 1;
			*given |= O(c);
			break;
		case OPT_DEBUG:
			ds_debug_enable();
			break;
		case OPT_LOG:
			o->log = optarg;
			*given |= O(c);
			break;
		case OPT_PRINT_KEY:
			o->print_key = 1;
			*given |= O(c);
			break;
		case OPT_SEALED:
			o->sealed = 1;
			*given |= O(c);
			break;
		case OPT_CHECK:
			o->check = 1;
			*given |= O(c);
			break;
		case OPT_ACCESS_KEY:
			o->access_key = 1;
			*given |= O(c);
			break;
		case ':':
			return ds_err_set(err, DS_EINPUT, "Option %s needs a value; see --help.",
					  argv[optind - 1]);
		default:
			return ds_err_set(err, DS_EINPUT, "Unknown option %s; see --help.",
					  argv[optind - 1]);
		}
	}
	return -1;
}

/* An unknown word fails loudly, without reading standard input: a
 * mistyped `token` in a tool hook must not print nothing and succeed. */
static int unknown_command(const char *word, struct ds_err *err)
{
	const char *names[sizeof(commands) / sizeof(commands[0])];
	const char *near;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		names[i] = commands[i].name;
	near = ds_closest(word, names, sizeof(names) / sizeof(names[0]));
	if (near)
		return ds_err_set(err, DS_EINPUT,
				  "Unknown command '%.40s'; did you mean '%s'? See --help.", word,
				  near);
	return ds_err_set(err, DS_EINPUT, "Unknown command '%.40s'; see --help.", word);
}

/* exec runs a command of the user's: options after its name are its own */
static int takes_command(const struct command *cmd)
{
	return cmd->fn == cmd_exec || cmd->fn == cmd_proxy;
}

static int run(int argc, char **argv, struct app *app, struct ds_err *err)
{
	const struct command *cmd;
	unsigned given = 0;
	int rc, at;

	rc = parse_args(argc, argv, 1, &app->o, &given, err);
	if (rc >= 0)
		return rc;
	if (optind >= argc) {
		usage(app->o.help ? stdout : stderr);
		return app->o.help ? DS_OK : DS_EINPUT;
	}
	at = optind;
	cmd = command_find(argv[at]);
	if (!cmd)
		return unknown_command(argv[at], err);
	/* the command's own options, after its name (argv[at] is the scan's
	 * argv[0]) */
	rc = parse_args(argc - at, argv + at, takes_command(cmd), &app->o, &given, err);
	if (rc >= 0)
		return rc;
	optind += at;
	if (app->o.help) {
		help_command(cmd->name, cmd->usage, stdout);
		return DS_OK;
	}
	if (given & ~cmd->opts)
		return ds_err_set(err, DS_EINPUT,
				  "An option given is not valid for %s; usage: dashscope-credential %s",
				  cmd->name, cmd->usage);
	app->o.rest = argv + optind;
	app->o.nrest = argc - optind;
	if (cmd->max_args != ANY_ARGS && app->o.nrest > cmd->max_args)
		return ds_err_set(err, DS_EINPUT,
				  cmd->max_args
					  ? "%s takes one argument; usage: dashscope-credential %s"
					  : "%s takes no arguments; usage: dashscope-credential %s",
				  cmd->name, cmd->usage);
	if (cmd->needs_conf) {
		rc = conf_load(&app->conf, err);
		if (rc)
			return rc;
	}
	return cmd->fn(app, err);
}

/* A closed standard descriptor would be reused by the next open: a key
 * file's temporary copy could become "standard output". Each gets a
 * stand-in; a closed standard output gets /dev/full, so that whatever a
 * command prints fails as a write error (exit 1), never silently. */
static int std_fds_ensure(int *stdout_closed)
{
	*stdout_closed = 0;
	for (int fd = 0; fd <= 2; fd++) {
		int got;

		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		got = open(fd == 1 ? "/dev/full" : "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
		if (got != fd)
			return -1;
		if (fd == 1)
			*stdout_closed = 1;
	}
	return 0;
}

/* stdio's buffers see every key we read (store, erase, add from a pipe)
 * or print; they are ours so they can be wiped before exit. */
static char in_buf[BUFSIZ], out_buf[BUFSIZ];

int main(int argc, char **argv)
{
	struct app app;
	struct ds_err err = { 0, "" };
	int rc, stdout_closed;

	if (std_fds_ensure(&stdout_closed) != 0)
		return DS_EFAIL;
	memset(&app, 0, sizeof(app));
	secret_harden_process(&app.caller_core);
	if (getrlimit(RLIMIT_NOFILE, &app.caller_nofile) != 0)
		app.caller_nofile.rlim_cur = app.caller_nofile.rlim_max = RLIM_INFINITY;
	/* a closed pipe is a write error with a message, not a silent death
	 * (exec restores the default for its child) */
	signal(SIGPIPE, SIG_IGN);
	if (getenv("DASHSCOPE_CREDENTIAL_DEBUG") &&
	    !strcmp(getenv("DASHSCOPE_CREDENTIAL_DEBUG"), "1"))
		ds_debug_enable();
	setvbuf(stdin, in_buf, _IOFBF, sizeof(in_buf));
	setvbuf(stdout, out_buf, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, sizeof(out_buf));
	app.caller_umask = umask(077);
	token_json_init();
	conf_init(&app.conf);
	rc = run(argc, argv, &app, &err);
	/* every command's output must have arrived (/dev/full, a closed
	 * pipe): exit 1, never 0 */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (rc == DS_OK)
			rc = ds_err_set(&err, DS_EFAIL, "Cannot write to standard output: %s.",
					stdout_closed ? "it is closed" : strerror(errno));
	}
	if (rc && err.msg[0])
		fprintf(stderr, "dashscope-credential: %s\n", err.msg);
	if (app.store_ready)
		store_close(&app.store);
	conf_free(&app.conf);
	token_global_cleanup();
	__fpurge(stdout); /* what a failed flush kept is dropped, not retried */
	explicit_bzero(out_buf, sizeof(out_buf));
	explicit_bzero(in_buf, sizeof(in_buf));
	return rc;
}
