/* SPDX-License-Identifier: MIT */
/* The local proxy key callers present: 32 random bytes as "sk-local-" +
 * base64url. A run with CMD makes a new one; the standalone proxy keeps one
 * in $XDG_CONFIG_HOME/dashscope-credential/proxy-key so tools configured
 * once keep working. */
#include "config.h"
#include "base/file_write.h"
#include "base/files.h"
#include "proxy/proxy.h"
#include "proxy/proxy_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_BYTES 32
#define KEY_LEN (9 + 43) /* prefix + unpadded base64url of 32 bytes */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int proxy_key_new(struct secret **out, struct ds_err *err)
{
	unsigned char raw[KEY_BYTES + 2] = { 0 };
	char text[KEY_LEN + 4];
	size_t j = 9;

	*out = NULL;
	if (getrandom(raw, KEY_BYTES, 0) != KEY_BYTES)
		return ds_err_set(err, DS_EFAIL, "Cannot read random bytes for the proxy key.");
	memcpy(text, PROXY_KEY_PREFIX, 9);
	for (size_t i = 0; i < KEY_BYTES; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];

		text[j++] = b64url[(v >> 18) & 63];
		text[j++] = b64url[(v >> 12) & 63];
		if (i + 1 < KEY_BYTES)
			text[j++] = b64url[(v >> 6) & 63];
		if (i + 2 < KEY_BYTES)
			text[j++] = b64url[v & 63];
	}
	text[j] = 0;
	*out = secret_new(text, j);
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(text, sizeof(text));
	return *out ? DS_OK : ds_err_set(err, DS_EFAIL, "Out of memory.");
}

static int key_valid(const char *s, size_t len)
{
	if (len != KEY_LEN || memcmp(s, PROXY_KEY_PREFIX, 9) != 0)
		return 0;
	for (size_t i = 9; i < len; i++)
		if (!s[i] || !strchr(b64url, s[i]))
			return 0;
	return 1;
}

/* The kept key, or *out NULL when there is none yet. */
static int key_read(const char *path, struct secret **out, struct ds_err *err)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int rc = file_read(path, FILE_NOFOLLOW, 256, "proxy key file", DS_ESTORE, &buf, &len, &st,
			   err);

	if (rc || !buf)
		return rc;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = 0;
	if (st.st_uid != geteuid() || (st.st_mode & 077))
		rc = ds_err_set(err, DS_ESTORE,
				"%s must be yours and readable by you only (mode 0600).", path);
	else if (!key_valid(buf, len))
		rc = ds_err_set(err, DS_ESTORE,
				"%s does not hold a proxy key; replace it with 'dashscope-credential proxy --new-key'.",
				path);
	else if (!(*out = secret_new(buf, len)))
		rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	secret_wipe_str(buf);
	return rc;
}

int proxy_key_load(int replace, struct secret **out, struct ds_err *err)
{
	char path[PATH_MAX], dir[PATH_MAX], *line;
	int rc;

	*out = NULL;
	rc = path_xdg("XDG_CONFIG_HOME", ".config", "dashscope-credential/proxy-key", path,
		      sizeof(path), err);
	if (!rc && !replace)
		rc = key_read(path, out, err);
	if (rc || *out)
		return rc;
	file_dir_of(path, dir, sizeof(dir));
	rc = file_mkdirs(dir, err);
	if (!rc)
		rc = proxy_key_new(out, err);
	if (rc)
		return rc;
	line = malloc((*out)->len + 2);
	if (!line) {
		secret_free(*out);
		*out = NULL;
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	memcpy(line, (*out)->data, (*out)->len);
	line[(*out)->len] = '\n';
	rc = file_write_atomic(path, 0600, line, (*out)->len + 1, err);
	explicit_bzero(line, (*out)->len + 2);
	free(line);
	if (rc) {
		secret_free(*out);
		*out = NULL;
	}
	return rc;
}
