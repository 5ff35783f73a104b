/* SPDX-License-Identifier: MIT */
/* The network module, dscred-net.so: the code that links libcurl, loaded
 * on the first call that talks to the API (module.h), so that commands
 * that never do (env --no-key for the PAM module, list, add, regions) do
 * not load libcurl and the libraries it brings. The module calls back
 * into the program (its symbols are exported), so it must come from the
 * same build: the ABI string carries the version. */
#ifndef DS_NET_H
#define DS_NET_H

#include "core/token.h"

#define NET_ABI PACKAGE_VERSION "/net-1"

struct net_ops {
	const char *abi; /* NET_ABI */
	int (*global_init)(struct ds_err *err);
	void (*global_cleanup)(void);
	int (*token_mint)(const struct token_request *tr, struct minted *out, struct ds_err *err);
};

extern const struct net_ops dscred_net;

#endif
