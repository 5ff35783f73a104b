/* SPDX-License-Identifier: MIT */
/* Loading our own modules (module.h). */
#include "config.h"
#include "base/module.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef PKGLIBDIR
#define PKGLIBDIR "/usr/lib/dashscope-credential"
#endif

/* The module next to this binary's build (libtool's .libs), if any. */
static void *load_from_build_tree(const char *file, char *path, size_t n)
{
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	void *h;

	if (len <= 0)
		return NULL;
	exe[len] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	/* libtool runs the real binary from .libs when it is installed-style */
	if (strlen(exe) > 6 && !strcmp(exe + strlen(exe) - 6, "/.libs"))
		exe[strlen(exe) - 6] = '\0';
	if (snprintf(path, n, "%s/.libs/%s", exe, file) >= (int)n)
		return NULL;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	return h;
}

const void *module_load(const char *file, const char *symbol, const char *abi, int code,
			const char *what, struct ds_err *err)
{
	char path[PATH_MAX + 64];
	const char *const *table;
	void *h = load_from_build_tree(file, path, sizeof(path));

	if (!h) {
		snprintf(path, sizeof(path), "%s/%s", PKGLIBDIR, file);
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	}
	if (!h) {
		ds_err_set(err, code,
			   "The %s support cannot be loaded (%s); reinstall dashscope-credential.",
			   what, dlerror());
		return NULL;
	}
	table = dlsym(h, symbol);
	if (!table || !*table || strcmp(*table, abi)) {
		dlclose(h);
		ds_err_set(err, code,
			   "The %s support in %s belongs to another version; reinstall dashscope-credential.",
			   what, path);
		return NULL;
	}
	return table;
}
