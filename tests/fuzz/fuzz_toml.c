/* SPDX-License-Identifier: MIT */
/* Fuzzes the TOML editor setup codex writes Codex's config.toml with
 * (helper/cmd/toml_edit.c): any file is read into items that cover it
 * byte for byte or refused with one clean sentence, and an edit it makes
 * reads back and, made again, changes nothing. */
#include "config.h"
#include "fuzz.h"
#include "cmd/toml_edit.h"

#include <stdlib.h>
#include <string.h>

static const char *const tables[] = { "model_providers.dashscope", "model_providers.dashscope.auth",
				      "profiles.dashscope" };
static const char *const keys[] = { "model_provider", "model" };
static const char table_block[] = "[model_providers.dashscope]\nname = \"D\"\n\n"
				  "[model_providers.dashscope.auth]\ncommand = \"/bin/ds\"\n"
				  "args = [\"token\", \"-p\", \"w\"]\n";
static const char key_block[] = "model_provider = \"dashscope\"\nmodel = \"q\"\n";

static int edit(const char *in, size_t len, int root, char **out, size_t *out_len)
{
	struct ds_err err = { 0, "" };
	struct toml_doc doc;
	int rc = toml_parse(in, len, &doc, &err);

	if (rc) {
		FUZZ_ASSERT(rc == DS_EINPUT && !ds_has_control(err.msg));
		return rc;
	}
	FUZZ_ASSERT(doc.n == 0 || doc.items[0].start == 0);
	for (size_t i = 0; i < doc.n; i++) {
		FUZZ_ASSERT(doc.items[i].end > doc.items[i].start);
		FUZZ_ASSERT(doc.items[i].end == (i + 1 < doc.n ? doc.items[i + 1].start : len));
	}
	rc = root ? toml_replace_root_keys(&doc, keys, 2, key_block, out, out_len, &err)
		  : toml_replace_tables(&doc, tables, 3, table_block, out, out_len, &err);
	if (rc)
		FUZZ_ASSERT(rc == DS_EINPUT && !ds_has_control(err.msg));
	else
		FUZZ_ASSERT(strlen(*out) == *out_len);
	toml_doc_free(&doc);
	return rc;
}

/* what setup reads back: the values it wrote */
static void expect_values(const char *text, size_t len, int root)
{
	struct ds_err err = { 0, "" };
	struct toml_doc doc;
	char *s = NULL, **v = NULL;

	FUZZ_ASSERT(toml_parse(text, len, &doc, &err) == DS_OK);
	if (root) {
		FUZZ_ASSERT(toml_get_string(&doc, "model_provider", &s, &err) == DS_OK);
		FUZZ_ASSERT(s && !strcmp(s, "dashscope"));
	} else {
		FUZZ_ASSERT(toml_get_string(&doc, "model_providers.dashscope.auth.command", &s,
					    &err) == DS_OK);
		FUZZ_ASSERT(s && !strcmp(s, "/bin/ds"));
		FUZZ_ASSERT(toml_get_strings(&doc, "model_providers.dashscope.auth.args", &v,
					     &err) == DS_OK);
		FUZZ_ASSERT(v && v[0] && v[1] && v[2] && !v[3] && !strcmp(v[2], "w"));
	}
	free(s);
	toml_strings_free(v);
	toml_doc_free(&doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int root = 0; root < 2; root++) {
		char *once = NULL, *twice = NULL;
		size_t n1 = 0, n2 = 0;

		if (edit((const char *)data, size, root, &once, &n1))
			continue;
		expect_values(once, n1, root);
		FUZZ_ASSERT(edit(once, n1, root, &twice, &n2) == DS_OK);
		FUZZ_ASSERT(n1 == n2 && !memcmp(once, twice, n1));
		free(once);
		free(twice);
	}
	return 0;
}
