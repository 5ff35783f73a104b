/* SPDX-License-Identifier: MIT */
/* The TOML editor setup codex writes Codex's config.toml with, and the
 * reader doctor takes its values from (helper/cmd/toml_edit.c): other
 * lines kept byte for byte, our tables replaced in place, a second run
 * the same bytes, and a file it cannot edit safely refused. */
#include "config.h"
#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include "cmd/toml_edit.h"

static const char *const tables[] = { "model_providers.dashscope", "model_providers.dashscope.auth",
				      "profiles.dashscope" };
static const char *const keys[] = { "model_provider", "model" };
static const char block[] = "[model_providers.dashscope]\nname = \"D\"\n\n"
			    "[model_providers.dashscope.auth]\ncommand = \"/bin/ds\"\n";
static const char root_block[] = "model_provider = \"dashscope\"\nmodel = \"qwen\"\n";

/* in edited as setup does (root: the root keys); NULL when refused, with
 * the refusal in err. */
static char *edit(const char *in, int root, struct ds_err *err)
{
	struct toml_doc doc;
	char *out = NULL;
	size_t len;
	int rc = toml_parse(in, strlen(in), &doc, err);

	if (rc)
		return NULL;
	rc = root ? toml_replace_root_keys(&doc, keys, 2, root_block, &out, &len, err)
		  : toml_replace_tables(&doc, tables, 3, block, &out, &len, err);
	toml_doc_free(&doc);
	if (rc)
		return NULL;
	ck_assert_uint_eq(len, strlen(out));
	return out;
}

/* Edits in, expects want, and that editing the result changes nothing. */
static void expect_edit(const char *in, int root, const char *want)
{
	struct ds_err err = { 0, "" };
	char *once = edit(in, root, &err), *twice;

	ck_assert_msg(once != NULL, "refused: %s", err.msg);
	ck_assert_str_eq(once, want);
	twice = edit(once, root, &err);
	ck_assert_msg(twice != NULL, "refused the second time: %s", err.msg);
	ck_assert_str_eq(twice, once);
	free(once);
	free(twice);
}

static void expect_refused(const char *in, int root, const char *why)
{
	struct ds_err err = { 0, "" };
	char *out = edit(in, root, &err);

	ck_assert_msg(out == NULL, "edited: %s", out ? out : "");
	ck_assert_int_eq(err.code, DS_EINPUT);
	ck_assert_msg(strstr(err.msg, why) != NULL, "refusal [%s] lacks [%s]", err.msg, why);
}

/* user's lines, all kept, then a blank line and our tables */
static void expect_kept_then_block(const char *user)
{
	char *want = malloc(strlen(user) + sizeof(block) + 2);

	ck_assert_ptr_nonnull(want);
	strcpy(want, user);
	strcat(want, "\n");
	strcat(want, block);
	expect_edit(user, 0, want);
	free(want);
}

START_TEST(test_tables_go_after_the_users_tables_never_a_key_after_a_table)
{
	expect_edit("model = \"o3\"\n[projects.\"/home/u/p\"]\ntrust_level = \"trusted\"\n", 0,
		    "model = \"o3\"\n[projects.\"/home/u/p\"]\ntrust_level = \"trusted\"\n\n"
		    "[model_providers.dashscope]\nname = \"D\"\n\n"
		    "[model_providers.dashscope.auth]\ncommand = \"/bin/ds\"\n");
}
END_TEST

START_TEST(test_an_empty_file_gets_only_the_tables)
{
	expect_edit("", 0, block);
}
END_TEST

START_TEST(test_a_file_without_a_final_newline_keeps_its_last_line)
{
	expect_edit("[tui]\nx = 1", 0,
		    "[tui]\nx = 1\n\n"
		    "[model_providers.dashscope]\nname = \"D\"\n\n"
		    "[model_providers.dashscope.auth]\ncommand = \"/bin/ds\"\n");
}
END_TEST

START_TEST(test_our_tables_are_replaced_where_they_were)
{
	expect_edit("[a]\nx = 1\n\n[model_providers.dashscope]\nname = \"old\"\nbase_url = \"u\"\n\n"
		    "[model_providers.dashscope.auth]\ncommand = \"old\"\nargs = [\n  \"token\",\n]\n"
		    "\n\n# the user's note on [b]\n[b]\ny = 2\n",
		    0,
		    "[a]\nx = 1\n\n[model_providers.dashscope]\nname = \"D\"\n\n"
		    "[model_providers.dashscope.auth]\ncommand = \"/bin/ds\"\n\n"
		    "# the user's note on [b]\n[b]\ny = 2\n");
}
END_TEST

/* Codex 0.171 refuses `--profile dashscope` while it is there */
START_TEST(test_an_old_profiles_table_goes)
{
	expect_edit("[profiles.dashscope]\nmodel_provider = \"dashscope\"\n\n[profiles.other]\nmodel = \"m\"\n",
		    0,
		    "[model_providers.dashscope]\nname = \"D\"\n\n"
		    "[model_providers.dashscope.auth]\ncommand = \"/bin/ds\"\n\n"
		    "[profiles.other]\nmodel = \"m\"\n");
}
END_TEST

START_TEST(test_quoted_and_spaced_headers_are_ours_too)
{
	expect_edit("[ model_providers . \"dashscope\" ] # mine\nname = \"x\"\n"
		    "['model_providers'.\"dashs\\u0063ope\".auth]\ncommand = \"y\"\n",
		    0, block);
}
END_TEST

START_TEST(test_other_lines_are_kept_byte_for_byte)
{
	const char *user = "# top\r\nmodel = 'o3'   # trailing\r\n\r\n[projects.\"/a b/c.d\"]\r\n"
			   "trust_level = \"trusted\"\r\n[[mcp]]\r\nname = \"x\"\r\n"
			   "[tui]\r\n\tnotifications = [ \"a\", # c\r\n  \"b\" ]\r\n";
	expect_kept_then_block(user);
}
END_TEST

/* what a line-by-line grep would take for headers */
START_TEST(test_brackets_inside_strings_and_arrays_are_not_headers)
{
	const char *user = "[tui]\nx = \"\"\"\n[model_providers.dashscope]\nname = 1\n\"\"\"\n"
			   "y = '''\n[profiles.dashscope]'''\nz = [\n  [1, 2],\n  [\"]\"],\n]\n"
			   "w = \"[model_providers.dashscope]\" # [x]\n"
			   "v = \"\"\"a \\\"\"\" [b] \\\n [c]\"\"\"\"\n";
	expect_kept_then_block(user);
}
END_TEST

/* a subtable the user added under ours is theirs */
START_TEST(test_a_subtable_of_ours_not_named_is_kept)
{
	expect_edit("[model_providers.dashscope]\nname = \"x\"\n\n[model_providers.dashscope.http_headers]\nX-A = \"1\"\n",
		    0,
		    "[model_providers.dashscope]\nname = \"D\"\n\n"
		    "[model_providers.dashscope.auth]\ncommand = \"/bin/ds\"\n\n"
		    "[model_providers.dashscope.http_headers]\nX-A = \"1\"\n");
}
END_TEST

START_TEST(test_our_table_defined_another_way_is_refused)
{
	expect_refused("model_providers.dashscope.name = \"x\"\n", 0,
		       "line 1 defines [model_providers.dashscope]");
	expect_refused("[model_providers]\ndashscope = { name = \"x\" }\n", 0, "line 2 defines");
	expect_refused("model_providers = {}\n", 0, "line 1 defines");
	expect_refused("[tui]\n[[model_providers]]\nname = 1\n", 0, "line 2 defines");
	expect_refused("[model_providers.dashscope]\nname = 1\n[model_providers]\ndashscope.auth.x = 1\n",
		       0, "line 4 defines [model_providers.dashscope");
}
END_TEST

START_TEST(test_what_it_cannot_read_is_refused_with_its_line)
{
	expect_refused("[tui]\nx = \"\"\"\nnever closed\n", 0,
		       "line 2: a multi-line string that is never closed");
	expect_refused("a = 1\nb = [\n1,\n", 0, "line 2: an array or inline table is never closed");
	expect_refused("a = 1\n[tui\n", 0, "line 2: a table header that is not closed");
	expect_refused("a = 1\n[tui] x = 1\n", 0, "line 2: something after a table header");
	expect_refused("just words\n", 0, "line 1: a line that is neither");
	expect_refused("a = \"open\n", 0, "line 1: a string that is not closed on its line");
	expect_refused("a = \n", 0, "line 1: a key without a value");
	expect_refused("\"a\\u0001\" = 1\n", 0, "line 1: a key with a control character");
}
END_TEST

START_TEST(test_a_nul_byte_is_refused)
{
	struct toml_doc doc;
	struct ds_err err = { 0, "" };

	ck_assert_int_eq(toml_parse("a = 1\n\0b = 2\n", 12, &doc, &err), DS_EINPUT);
}
END_TEST

START_TEST(test_root_keys_go_after_the_root_tables_last_key)
{
	expect_edit("# mine\napproval_policy = \"never\"\n\n[projects.\"/p\"]\ntrust_level = \"trusted\"\n",
		    1,
		    "# mine\napproval_policy = \"never\"\n"
		    "model_provider = \"dashscope\"\nmodel = \"qwen\"\n\n"
		    "[projects.\"/p\"]\ntrust_level = \"trusted\"\n");
}
END_TEST

START_TEST(test_root_keys_go_on_top_never_after_a_table)
{
	expect_edit("[projects.\"/p\"]\nmodel = \"in a table\"\n", 1,
		    "model_provider = \"dashscope\"\nmodel = \"qwen\"\n\n"
		    "[projects.\"/p\"]\nmodel = \"in a table\"\n");
	expect_edit("", 1, root_block);
}
END_TEST

START_TEST(test_root_keys_are_replaced_in_place)
{
	expect_edit("# c\nmodel = [\n \"old\",\n]\nx = 1\nmodel_provider = \"openai\"\n[t]\n", 1,
		    "# c\nmodel_provider = \"dashscope\"\nmodel = \"qwen\"\nx = 1\n[t]\n");
}
END_TEST

/* found by tests/fuzz/fuzz_toml: a blank line last, blank lines between
 * the root keys and a header */
START_TEST(test_root_keys_keep_the_blank_lines_around_them)
{
	expect_edit("\n", 1, "model_provider = \"dashscope\"\nmodel = \"qwen\"\n\n");
	expect_edit("x = 1\n\n\n[t]\n", 1,
		    "x = 1\nmodel_provider = \"dashscope\"\nmodel = \"qwen\"\n\n\n[t]\n");
}
END_TEST

/* "" is a key, and [""] a table: neither is the root table */
START_TEST(test_an_empty_key_is_a_key_of_its_own)
{
	expect_kept_then_block("[abc]\n['']\nmodel_providers.dashscope.name = 1\n\"\" = 2\n");
	expect_refused("\"\".x = 1\nmodel_providers.dashscope = 1\n", 0, "line 2 defines");
}
END_TEST

START_TEST(test_a_root_key_of_ours_that_is_a_table_is_refused)
{
	expect_refused("[model]\nx = 1\n", 1, "line 1 defines model in a way");
	expect_refused("model.x = 1\n", 1, "line 1 defines model in a way");
	expect_refused("[[model_provider.a]]\n", 1, "line 1 defines model_provider");
}
END_TEST

START_TEST(test_values_are_read_with_escapes_and_across_lines)
{
	const char *text =
		"[model_providers.dashscope]\nbase_url = \"https://h/v1\"\n"
		"[model_providers.dashscope.auth]\ncommand = '/opt/d c/dashscope-credential'\n"
		"args = [ # the profile\n  \"token\",\n  \"-p\", 'w\\ork', \"\\u00e9\\\"\" ,\n]\n"
		"[other]\nargs = \"not ours\"\n";
	struct toml_doc doc;
	struct ds_err err = { 0, "" };
	char *s = NULL, **v = NULL;

	ck_assert_int_eq(toml_parse(text, strlen(text), &doc, &err), DS_OK);
	ck_assert_int_eq(toml_get_string(&doc, "model_providers.dashscope.auth.command", &s, &err),
			 DS_OK);
	ck_assert_str_eq(s, "/opt/d c/dashscope-credential");
	free(s);
	ck_assert_int_eq(toml_get_strings(&doc, "model_providers.dashscope.auth.args", &v, &err),
			 DS_OK);
	ck_assert_str_eq(v[0], "token");
	ck_assert_str_eq(v[1], "-p");
	ck_assert_str_eq(v[2], "w\\ork");
	ck_assert_str_eq(v[3], "\xc3\xa9\"");
	ck_assert_ptr_null(v[4]);
	toml_strings_free(v);
	ck_assert_int_eq(toml_get_string(&doc, "model_providers.dashscope.name", &s, &err), DS_OK);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(toml_get_strings(&doc, "model_providers.dashscope.base_url", &v, &err),
			 DS_EINPUT);
	toml_doc_free(&doc);
}
END_TEST

/* a dotted key in the root table reaches the same value */
START_TEST(test_a_dotted_key_is_read_as_its_table)
{
	const char *text = "model_providers.dashscope.auth.command = \"/x\"\n";
	struct toml_doc doc;
	struct ds_err err = { 0, "" };
	char *s = NULL;

	ck_assert_int_eq(toml_parse(text, strlen(text), &doc, &err), DS_OK);
	ck_assert_int_eq(toml_get_string(&doc, "model_providers.dashscope.auth.command", &s, &err),
			 DS_OK);
	ck_assert_str_eq(s, "/x");
	free(s);
	toml_doc_free(&doc);
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("toml_edit");
	TCase *tc = tcase_create("toml_edit");

	ADD(tc, test_tables_go_after_the_users_tables_never_a_key_after_a_table);
	ADD(tc, test_an_empty_file_gets_only_the_tables);
	ADD(tc, test_a_file_without_a_final_newline_keeps_its_last_line);
	ADD(tc, test_our_tables_are_replaced_where_they_were);
	ADD(tc, test_an_old_profiles_table_goes);
	ADD(tc, test_quoted_and_spaced_headers_are_ours_too);
	ADD(tc, test_other_lines_are_kept_byte_for_byte);
	ADD(tc, test_brackets_inside_strings_and_arrays_are_not_headers);
	ADD(tc, test_a_subtable_of_ours_not_named_is_kept);
	ADD(tc, test_our_table_defined_another_way_is_refused);
	ADD(tc, test_what_it_cannot_read_is_refused_with_its_line);
	ADD(tc, test_a_nul_byte_is_refused);
	ADD(tc, test_root_keys_go_after_the_root_tables_last_key);
	ADD(tc, test_root_keys_go_on_top_never_after_a_table);
	ADD(tc, test_root_keys_are_replaced_in_place);
	ADD(tc, test_root_keys_keep_the_blank_lines_around_them);
	ADD(tc, test_an_empty_key_is_a_key_of_its_own);
	ADD(tc, test_a_root_key_of_ours_that_is_a_table_is_refused);
	ADD(tc, test_values_are_read_with_escapes_and_across_lines);
	ADD(tc, test_a_dotted_key_is_read_as_its_table);
	suite_add_tcase(s, tc);
	return s;
}
