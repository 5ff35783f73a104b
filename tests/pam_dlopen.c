/* SPDX-License-Identifier: MIT */
/* Loads the module with RTLD_NOW (every symbol resolvable) and checks that
 * it exports exactly the pam_sm_* hooks. */
#include "config.h"
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	static const char *const hooks[] = {
		"pam_sm_open_session", "pam_sm_close_session", "pam_sm_authenticate",
		"pam_sm_setcred",      "pam_sm_acct_mgmt",     "pam_sm_chauthtok",
	};
	static const char *const hidden[] = {
		"pam_opts_parse", "pam_output_each", "region_find", "conf_load", "ds_err_set",
	};
	void *h;
	int bad = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: pam_dlopen MODULE.so\n");
		return 2;
	}
	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("not ok - dlopen: %s\n", dlerror());
		return 1;
	}
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		int ok = dlsym(h, hooks[i]) != NULL;

		printf("%s - exports %s\n", ok ? "ok" : "not ok", hooks[i]);
		bad |= !ok;
	}
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		int ok = dlsym(h, hidden[i]) == NULL;

		printf("%s - hides %s\n", ok ? "ok" : "not ok", hidden[i]);
		bad |= !ok;
	}
	dlclose(h);
	return bad;
}
