/* SPDX-License-Identifier: MIT */
/* The config writer of SPEC section 6: `add --default` sets the default
 * profile in the user file, and `add --system --sealed` a profile's key
 * source in the system file, keeping every other line, through the one
 * atomic writer (file_write.c). Kept apart from the reader so that the
 * PAM module, which only reads, does not carry it. */
#include "config.h"
#include "conf/conf.h"
#include "base/files.h"
#include "base/file_write.h"
#include "base/ini.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_defaults_header(const char *line, size_t len)
{
	char buf[64];
	size_t o = 0;

	/* blanks as the reader sees them, the CR of a CRLF file included */
	for (size_t i = 0; i < len && o < sizeof(buf) - 1; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
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

/* old with every "profile =" line of every [defaults] section dropped and
 * one setting put where the first of them was (or right after the first
 * [defaults] header, or in a new section at the end). */
static char *defaults_rewrite(const char *old, size_t len, const char *setting, size_t *outlen)
{
	size_t slen = strlen(setting), olen = 0, pos = 0;
	char *out = malloc(len + slen + 16);
	int in_defaults = 0, done = 0;

	if (!out)
		return NULL;
	while (pos < len) {
		const char *line = old + pos, *nl = memchr(line, '\n', len - pos), *s = line;
		size_t llen = nl ? (size_t)(nl - line) : len - pos;

		while (s < line + llen && (*s == ' ' || *s == '\t'))
			s++;
		if (s < line + llen && *s == '[') {
			if (in_defaults && !done) {
				memcpy(out + olen, setting, slen);
				olen += slen;
				done = 1;
			}
			in_defaults = is_defaults_header(line, llen);
		}
		if (in_defaults && is_profile_setting(line, llen)) {
			if (!done) {
				memcpy(out + olen, setting, slen);
				olen += slen;
				done = 1;
			}
		} else {
			memcpy(out + olen, line, llen);
			olen += llen;
			out[olen++] = '\n';
		}
		pos += llen + 1;
	}
	if (!done) {
		if (!in_defaults)
			olen += (size_t)sprintf(out + olen, "%s[defaults]\n", olen ? "\n" : "");
		memcpy(out + olen, setting, slen);
		olen += slen;
	}
	*outlen = olen;
	return out;
}

/* The file to write: the user file, or what its symlink points at (the
 * link stays and the target keeps its mode). */
static int config_target(const char *path, char *target, size_t n, struct ds_err *err)
{
	struct stat sb;
	char *real, dir[PATH_MAX];
	int rc;

	if (lstat(path, &sb) != 0 || !S_ISLNK(sb.st_mode))
		return path_format(target, n, err, "%s", path);
	/* the writer checks where the target is; the link's own directory
	 * decides where it points */
	file_dir_of(path, dir, sizeof(dir));
	rc = file_dir_trusted(dir, err);
	if (rc)
		return rc;
	real = realpath(path, NULL);
	if (!real)
		return ds_err_set(err, DS_EFAIL,
				  "The config file %s is a symbolic link that leads nowhere (%s); fix or remove it.",
				  path, strerror(errno));
	rc = path_format(target, n, err, "%s", real);
	free(real);
	return rc;
}

int conf_set_default_profile(const struct conf *c, const char *name, struct ds_err *err)
{
	char target[PATH_MAX], dir[PATH_MAX], setting[128], *old = NULL, *out;
	size_t len = 0, olen;
	struct stat sb;
	mode_t mode = 0600;
	int rc;

	rc = config_target(c->user_path, target, sizeof(target), err);
	if (!rc)
		rc = file_read(target, 0, INI_FILE_MAX, "config file", DS_EFAIL, &old, &len, &sb,
			       err);
	if (rc)
		return rc;
	if (old) {
		if (sb.st_uid != geteuid()) {
			free(old);
			return ds_err_set(err, DS_EFAIL,
					  "The config file %s belongs to another user; not changing it.",
					  target);
		}
		mode = sb.st_mode & 07777;
	}
	snprintf(setting, sizeof(setting), "profile = %s\n", name);
	out = defaults_rewrite(old ? old : "", len, setting, &olen);
	free(old);
	if (!out)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	file_dir_of(target, dir, sizeof(dir));
	rc = file_mkdirs(dir, err);
	if (!rc)
		rc = file_write_atomic(target, mode, out, olen, err);
	free(out);
	return rc;
}

/* line is a header naming [profile name] (blanks as the reader collapses
 * them); *is_header tells whether it is a header at all. */
static int is_profile_header(const char *line, size_t len, const char *name, int *is_header)
{
	char buf[160];
	size_t o = 0, i = 0;
	int blank = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	*is_header = i < len && line[i] == '[';
	if (!*is_header)
		return 0;
	for (i++; i < len && line[i] != ']' && o < sizeof(buf) - 1; i++) {
		if (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') {
			blank = o > 0;
			continue;
		}
		if (blank)
			buf[o++] = ' ';
		blank = 0;
		if (o < sizeof(buf) - 1)
			buf[o++] = line[i];
	}
	buf[o] = '\0';
	return !strncmp(buf, "profile ", 8) && !strcmp(buf + 8, name);
}

/* The settings a sealed profile's section gets from `add`: its place and
 * its key source. */
static int is_source_setting(const char *line, size_t len)
{
	static const char *const names[] = { "region", "workspace", "plan", "key_file",
					     "key_credential" };
	size_t i = 0, n;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	n = i;
	while (n < len && line[n] != '=' && line[n] != ' ' && line[n] != '\t')
		n++;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (n - i == strlen(names[k]) && !strncmp(line + i, names[k], n - i)) {
			while (n < len && (line[n] == ' ' || line[n] == '\t'))
				n++;
			return n < len && line[n] == '=';
		}
	return 0;
}

static int is_blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return 0;
	return 1;
}

/* old with the source settings of every [profile name] section dropped;
 * settings (when not NULL) put right after the first such header, or in a
 * new section at the end. Without settings a section left with nothing
 * but blank lines goes, header and all. */
static char *profile_rewrite(const char *old, size_t len, const char *name, const char *settings,
			     size_t *outlen)
{
	size_t slen = settings ? strlen(settings) : 0, olen = 0, pos = 0, header_at = 0;
	char *out = malloc(len + slen + strlen(name) + 32);
	int in_target = 0, done = 0, content = 0;

	if (!out)
		return NULL;
	while (pos <= len) {
		const char *line = old + pos, *nl = memchr(line, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - line) : len - pos;
		int header = 0, target = pos < len && is_profile_header(line, llen, name, &header);

		if (pos == len || header) {
			/* the section that ends here */
			if (in_target && !settings && !content)
				olen = header_at;
			if (pos == len)
				break;
			in_target = target;
			header_at = olen;
			content = 0;
		}
		if (!(in_target && !header && is_source_setting(line, llen))) {
			memcpy(out + olen, line, llen);
			olen += llen;
			out[olen++] = '\n';
			if (in_target && !header && !is_blank(line, llen))
				content = 1;
		}
		if (target && settings && !done) {
			memcpy(out + olen, settings, slen);
			olen += slen;
			done = 1;
		}
		pos += nl ? llen + 1 : llen;
	}
	/* no pile of blank lines at the end after an add and a remove */
	while (olen >= 2 && out[olen - 1] == '\n' && out[olen - 2] == '\n')
		olen--;
	if (settings && !done)
		olen += (size_t)sprintf(out + olen, "%s[profile %s]\n%s", olen ? "\n" : "", name,
					settings);
	out[olen] = '\0';
	*outlen = olen;
	return out;
}

int conf_profile_source_text(const char *path, const char *name, const char *settings, char *target,
			     size_t tn, char **out, size_t *outlen, struct ds_err *err)
{
	char *old = NULL;
	size_t len = 0;
	struct stat sb;
	int rc;

	*out = NULL;
	rc = config_target(path, target, tn, err);
	if (!rc)
		rc = file_read(target, 0, INI_FILE_MAX, "config file", DS_EFAIL, &old, &len, &sb,
			       err);
	if (rc)
		return rc;
	if (old && sb.st_uid != geteuid()) {
		free(old);
		return ds_err_set(err, DS_EFAIL,
				  "The config file %s belongs to another user; not changing it.",
				  target);
	}
	*out = profile_rewrite(old ? old : "", len, name, settings, outlen);
	free(old);
	return *out ? DS_OK : ds_err_set(err, DS_EFAIL, "Out of memory.");
}
