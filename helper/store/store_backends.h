/* SPDX-License-Identifier: MIT */
/* The backends linked into the program, for the store dispatcher
 * (core/store.c): the file store and the broker's client. The Secret
 * Service backend is a module (store_backend.h names its symbol). */
#ifndef DS_STORE_BACKENDS_H
#define DS_STORE_BACKENDS_H

#include <stddef.h>
#include "base/util.h"
#include "store/store_backend.h"

/* Parses a key file image without touching the disk (fuzzer): the status
 * a read would give and how many records it holds. */
int store_file_parse(const char *buf, size_t len, size_t *nrecs, struct ds_err *err);

/* The file store's lock on the key file at path, held until *fd is
 * closed: what changes the file outside the backend (root sealing a key
 * of the broker's key file, as its owner) takes it as the backend does. */
int store_file_lock(const char *path, int *fd, struct ds_err *err);

/* The key file at path read and checked as the backend reads it (a
 * regular file of the caller's, no link, no group or other bits), and its
 * image without the records named in drop (a NULL-ended list of at most
 * 32), as the backend would write it: bit i of *found set when a record
 * named drop[i] was there, *image NULL when none was (or the file is
 * missing). The caller wipes and frees *image. */
int store_file_without(const char *path, const char *const *drop, char **image, size_t *len,
		       unsigned *found, struct ds_err *err);

/* The file backend. */
extern const struct store_ops store_file_ops;
/* The broker's client (store_broker.c): it mints, and holds no key. */
extern const struct store_ops store_broker_ops;
/* The key sources of the configuration (store_source.c): read-only. */
extern const struct store_ops store_source_ops;

#endif
