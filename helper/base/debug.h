/* SPDX-License-Identifier: MIT */
/* --debug tracing (SPEC section 13): files read, the store chosen and why,
 * profile selection, each URL called with its status and time. Callers
 * never pass a key; control characters are replaced like in errors. */
#ifndef DS_DEBUG_H
#define DS_DEBUG_H

/* Turns tracing on; the helper's main calls it for --debug or
 * DASHSCOPE_CREDENTIAL_DEBUG=1. Off by default (the PAM module never
 * turns it on). */
void ds_debug_enable(void);
int ds_debug_enabled(void);

/* One line on stderr, "dashscope-credential: debug: +MSms ...", when on. */
void ds_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
