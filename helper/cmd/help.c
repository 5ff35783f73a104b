/* SPDX-License-Identifier: MIT */
/* Each command's --help: what it does and every option it takes, in the
 * words of dashscope-credential(1) (tests/test_man.sh keeps them in step). */
#include "config.h"
#include "cmd/cmd_int.h"

#include <string.h>

struct help {
	const char *name;
	const char *text;
};

#define SELECT_OPTS                                                                        \
	"  -p, --profile NAME      use this profile (else the default, or the only one)\n" \
	"  -r, --region REGION     choose among profiles of this region (id or alias)\n"   \
	"  -w, --workspace ID      choose among profiles of this workspace\n"              \
	"      --plan PLAN         choose among profiles of this plan: payg or coding\n"

#define LIFETIME_OPT                                                                      \
	"  -l, --lifetime SECONDS  lifetime of the temporary key, 1..1800 (default 60,\n" \
	"                          or the profile's or configuration's lifetime)\n"

static const struct help helps[] = {
	{ "add",
	  "Stores a long-lived Model Studio key under PROFILE (default \"default\"). Every\n"
	  "option is checked before the key is asked for. The key is read from the\n"
	  "terminal without echo, or as one line from a standard input that is not a\n"
	  "terminal; never from the command line. At a terminal without --region, a\n"
	  "numbered menu of regions is shown. A profile of the same name is replaced\n"
	  "(add says what it replaced).\n\n"
	  "Options:\n"
	  "  -r, --region REGION     the key's region (id or alias; 'regions' lists them);\n"
	  "                          required unless the key is a Coding Plan key\n"
	  "  -w, --workspace ID      the key's workspace id (required in eu-central-1 and\n"
	  "                          ap-northeast-1)\n"
	  "      --plan PLAN         payg or coding (an sk-sp- key is always coding)\n"
	  "  -p, --profile NAME      the profile name, when not given as PROFILE\n"
	  "      --verify            mint one 1-second key first; refuse a key the API rejects\n"
	  "      --default           make PROFILE the default in the user configuration\n"
	  "      --system            root only: store it in the broker's system key file\n"
	  "      --sealed            with --system: seal it with systemd-creds into\n"
	  "                          /etc/credstore.encrypted and load it into the broker's\n"
	  "                          service (LoadCredentialEncrypted= drop-in)\n"
	  "      --access-key        store instead an AccessKey (its id, then its secret) for\n"
	  "                          'rotate' beside PROFILE's key, in the same store\n" },
	{ "rotate",
	  "Replaces PROFILE's long-lived key through Model Studio's key-management API:\n"
	  "finds the old key's id, makes a new key with the same description and limits,\n"
	  "stores key and id together, mints a 1-second key with it, then deletes the old\n"
	  "key. Before the store every failure leaves the old key in use; after it every\n"
	  "failure names the old key's id for the console. Credentials: the ECS\n"
	  "instance's RAM role, else ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET/_SECURITY_TOKEN,\n"
	  "else the AccessKey stored with 'add --access-key PROFILE'.\n\n"
	  "Options:\n"
	  "      --check             say for each profile (or PROFILE) its key's id and when\n"
	  "                          it was made; change nothing\n"
	  "      --system            root only: a profile of the broker's system key file\n" },
	{ "list", "Shows the stored profiles: name, region, workspace, plan, store and the key\n"
		  "as sk-... plus its last four characters; '*' marks the default.\n\n"
		  "Options:\n"
		  "      --json              an array of objects instead of a table\n"
		  "      --system            root only: the broker's system key file\n" },
	{ "remove", "Deletes one stored profile; exits 1 when there is none of that name.\n\n"
		    "Options:\n"
		    "      --system            root only: from the broker's system key file, or\n"
		    "                          a sealed key with its drop-in and config entry\n" },
	{ "token", "Prints one temporary key and a newline, nothing else: for Claude Code's\n"
		   "apiKeyHelper, Codex CLI's auth command and scripts.\n\n"
		   "Options:\n" SELECT_OPTS LIFETIME_OPT },
	{ "env",
	  "Prints variable assignments with a fresh temporary key, for eval.\n\n"
	  "Options:\n"
	  "      --shell SHELL       sh, fish, csh, dotenv, json or pam; default from $SHELL\n"
	  "                          (fish, csh for csh/tcsh, else sh)\n"
	  "      --for LIST          families of variables: dashscope, openai, anthropic\n"
	  "                          (default dashscope,openai)\n"
	  "      --no-key            leave out every key variable (no network, no keyring)\n" SELECT_OPTS
		  LIFETIME_OPT },
	{ "exec",
	  "Runs COMMAND with the variables of env set and the conflicting ones removed;\n"
	  "exits with COMMAND's status. Without COMMAND it runs $SHELL.\n\n"
	  "Options (before COMMAND):\n"
	  "      --for LIST          dashscope, openai, anthropic (default dashscope,openai)\n"
	  "      --key-file          for the DashScope SDKs: keep a fresh key in a file named\n"
	  "                          by DASHSCOPE_API_KEY_FILE_PATH while COMMAND runs\n" SELECT_OPTS
		  LIFETIME_OPT },
	{ "proxy",
	  "A loopback proxy that puts a fresh temporary key on every request, so a\n"
	  "tool holds only a local proxy key. With COMMAND: on a free port, for COMMAND\n"
	  "only (its variables point at the proxy). Without: the standalone proxy on\n"
	  "127.0.0.1:8418 with the key in ~/.config/dashscope-credential/proxy-key.\n\n"
	  "Options (before COMMAND):\n"
	  "      --for LIST          families of variables for COMMAND (default all three)\n"
	  "      --listen ADDR       127.0.0.1:PORT, [::1]:PORT or localhost:PORT\n"
	  "      --quiet             no log line per request\n"
	  "      --log FILE          the log lines go to FILE; - is standard error\n"
	  "                          (default: standard error for the standalone proxy,\n"
	  "                          ~/.local/state/dashscope-credential/proxy.log with\n"
	  "                          COMMAND, so that they never draw inside its screen)\n"
	  "      --print-env         print the variables once listening (standalone)\n"
	  "      --shell SHELL       the syntax of --print-env: sh, fish, csh, dotenv, json\n"
	  "      --print-key         print the standalone proxy's key and exit (a tool's\n"
	  "                          key command: Claude Code's apiKeyHelper)\n"
	  "      --new-key           replace the standalone proxy's key\n" SELECT_OPTS
		  LIFETIME_OPT },
	{ "regions", "Prints the region table: ids, aliases and hosts.\n\n"
		     "Options:\n"
		     "      --json              the table as JSON\n" },
	{ "doctor",
	  "Checks the configuration, the store, every profile, the policy, the [pam]\n"
	  "rules, variables that would win over the helper, and the settings of Claude\n"
	  "Code (user, project, local) and Qwen Code: drift since setup included;\n"
	  "one line per check, [ok], [warn] or [FAIL], with the fix. Exits 1 when a\n"
	  "check fails.\n\n"
	  "Options:\n"
	  "      --online            also mint one 1-second key per pay-as-you-go profile\n"
	  "      --json              the checks as a JSON array\n" },
	{ "status", "An overview: the profile that would be used and why, the store in use and\n"
		    "why, every profile, the policy, whether a broker or a standalone proxy\n"
		    "answers, and variables that would win over the helper inside a tool.\n\n"
		    "Options:\n"
		    "      --json              the same as a JSON object\n" SELECT_OPTS },
	{ "setup",
	  "Configures a tool to use the helper. TOOL is one of:\n"
	  "  claude-code   edits ~/.claude/settings.json (apiKeyHelper, ANTHROPIC_BASE_URL,\n"
	  "                CLAUDE_CODE_API_KEY_HELPER_TTL_MS), keeping every other setting\n"
	  "                and a backup; refuses while its env sets a key that would win\n"
	  "  qwen-code     points ~/.qwen/settings.json at the standalone proxy\n"
	  "  codex         adds the provider to ~/.codex/config.toml (tables only) and\n"
	  "                the profile dashscope.config.toml: codex --profile dashscope\n\n"
	  "Options:\n"
	  "  -p, --profile NAME      the profile the tool uses (default: the default profile)\n"
	  "      --dry-run           print the resulting file; change nothing\n" },
	{ "broker",
	  "Runs the broker service: it holds an organisation's keys where users cannot\n"
	  "read them and hands allowed users temporary keys\n"
	  "(dashscope-credential-broker(8)).\n\n"
	  "Options:\n"
	  "      --listen PATH       make the socket at PATH (else systemd's LISTEN_FDS)\n"
	  "      --log-stderr        audit to standard error instead of syslog\n"
	  "      --idle-timeout SECONDS\n"
	  "                          exit after this long without a connection\n"
	  "                          (default 60; 0 never)\n" },
	{ "get", "The git-credential protocol: reads a request on standard input and prints a\n"
		 "temporary key with the profile's URLs (see dashscope-credential(1)).\n" },
	{ "store", "The git-credential protocol: stores the long-lived key of a request.\n" },
	{ "erase", "The git-credential protocol: erases the profiles a request names.\n" },
	{ "capability", "Prints the protocol capabilities: version 0, capability authtype.\n" },
};

void help_command(const char *name, const char *usage, FILE *out)
{
	fprintf(out, "Usage: dashscope-credential %s\n", usage);
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		if (!strcmp(helps[i].name, name))
			fprintf(out, "\n%s", helps[i].text);
	fputs("\nGlobal options: --debug (trace to standard error), -h/--help, -V/--version.\n"
	      "See dashscope-credential(1).\n",
	      out);
}
