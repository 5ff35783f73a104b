/* SPDX-License-Identifier: MIT */
/* The program's side of the network module (net.h): the calls of token.h
 * that need libcurl, forwarded to the module once it is loaded. */
#include "config.h"
#include "net/net.h"
#include "base/module.h"

#include <stddef.h>

static const struct net_ops *net;

static int net_ready(struct ds_err *err)
{
	if (net)
		return DS_OK;
	net = module_load(NET_MODULE, NET_MODULE_SYMBOL, NET_ABI, DS_EFAIL, "network", err);
	if (!net)
		return DS_EFAIL;
	return net->global_init(err);
}

int token_global_init(struct ds_err *err)
{
	return net_ready(err);
}

void token_global_cleanup(void)
{
	if (net)
		net->global_cleanup();
}

int token_mint(const struct token_request *tr, struct minted *out, struct ds_err *err)
{
	int rc = net_ready(err);

	if (rc)
		return rc;
	return net->token_mint(tr, out, err);
}
