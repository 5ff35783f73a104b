/* SPDX-License-Identifier: MIT */
/* The config writer of SPEC section 6: `add --default` sets the default
 * profile in the user file, keeping every other line. Kept apart from the
 * reader so that the PAM module, which only reads, does not carry it. */
#include "config.h"
#include "conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_atomic(const char *path, const char *data, size_t len, struct ds_err *err)
{
	char tmp[600];
	int fd;
	ssize_t w;

	snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return ds_err_set(err, DS_EFAIL, "Cannot write %s: %s.", path, strerror(errno));
	w = write(fd, data, len);
	if (w < 0 || (size_t)w != len || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return ds_err_set(err, DS_EFAIL, "Cannot write %s.", path);
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return ds_err_set(err, DS_EFAIL, "Cannot replace %s: %s.", path, strerror(errno));
	}
	return DS_OK;
}

static void mkdir_parent(const char *path)
{
	char dir[512];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	mkdir_parent(dir);
	mkdir(dir, 0700);
}

static int is_defaults_header(const char *line, size_t len)
{
	char buf[64];
	size_t o = 0;

	for (size_t i = 0; i < len && o < sizeof(buf) - 1; i++)
		if (line[i] != ' ' && line[i] != '\t')
			buf[o++] = line[i];
	buf[o] = '\0';
	return !strncmp(buf, "[defaults]", 10) &&
	       (buf[10] == '\0' || buf[10] == '#' || buf[10] == ';');
}

static int is_profile_setting(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	/* cppcheck-suppress knownConditionTrueFalse ; i reaches len on a blank line */
	if (len - i < 7 || strncmp(line + i, "profile", 7))
		return 0;
	i += 7;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i < len && line[i] == '=';
}

int conf_set_default_profile(const struct conf *c, const char *name, struct ds_err *err)
{
	FILE *fp = fopen(c->user_path, "re");
	char *old = NULL, *out;
	size_t len = 0, olen = 0, pos = 0, cap;
	int in_defaults = 0, done = 0, rc;
	char setting[128];

	if (fp) {
		size_t got;
		char chunk[4096];

		while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
			char *nb = realloc(old, len + got + 1);

			if (!nb) {
				free(old);
				fclose(fp);
				return ds_err_set(err, DS_EFAIL, "Out of memory.");
			}
			old = nb;
			memcpy(old + len, chunk, got);
			len += got;
		}
		fclose(fp);
	}
	snprintf(setting, sizeof(setting), "profile = %s\n", name);
	cap = len + 2 * sizeof(setting) + 16;
	out = malloc(cap);
	if (!out) {
		free(old);
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	while (pos < len) {
		const char *nl = memchr(old + pos, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - (old + pos)) : len - pos;
		const char *line = old + pos;
		const char *s = line;

		while (s < line + llen && (*s == ' ' || *s == '\t'))
			s++;
		if (s < line + llen && *s == '[') {
			if (in_defaults && !done) {
				memcpy(out + olen, setting, strlen(setting));
				olen += strlen(setting);
				done = 1;
			}
			in_defaults = is_defaults_header(line, llen);
		}
		if (in_defaults && !done && is_profile_setting(line, llen)) {
			memcpy(out + olen, setting, strlen(setting));
			olen += strlen(setting);
			done = 1;
		} else {
			memcpy(out + olen, line, llen);
			olen += llen;
			out[olen++] = '\n';
		}
		pos += llen + 1;
	}
	if (!done) {
		if (!in_defaults) {
			olen += (size_t)sprintf(out + olen, "%s[defaults]\n", olen ? "\n" : "");
		}
		memcpy(out + olen, setting, strlen(setting));
		olen += strlen(setting);
	}
	free(old);
	mkdir_parent(c->user_path);
	rc = write_atomic(c->user_path, out, olen, err);
	free(out);
	return rc;
}
