/* SPDX-License-Identifier: MIT */
/* Parts of the program that pull in large libraries live in modules,
 * loaded on first use, so commands that do not need them never pay for
 * loading them: the Secret Service store (GLib, libsecret) and the network
 * (libcurl and what it brings). */
#ifndef DS_MODULE_H
#define DS_MODULE_H

#include "base/util.h"

/* The table a module exports under symbol: its first member is the ABI
 * string it was built with, which must equal abi. Loaded from the build
 * tree when this binary runs uninstalled (make check), else from
 * PKGLIBDIR. NULL with err (DS_ESTORE for the store, what names says
 * otherwise) when it cannot be loaded or belongs to another build. */
const void *module_load(const char *file, const char *symbol, const char *abi, int code,
			const char *what, struct ds_err *err);

#endif
