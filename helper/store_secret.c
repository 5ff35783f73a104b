/* SPDX-License-Identifier: MIT */
/* The Secret Service store (libsecret): the key is the secret of an item of
 * schema io.github.dashscope_credential.Key; profile, region, workspace and
 * plan are its public attributes. Never autolaunches a bus. Built as the
 * module dscred-secret-service.so; store.c loads it on first use. */
#include "config.h"
#include "store.h"
#include "key.h"

/* The D-Bus-path calls (secret-paths.h) are marked unstable but have not
 * changed since libsecret 0.7; they let a read cost one call per step
 * instead of three per object (proxy set-up), see bench/analysis.md. */
#define SECRET_API_SUBJECT_TO_CHANGE
#include <libsecret/secret.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const SecretSchema key_schema = {
	"io.github.dashscope_credential.Key",
	SECRET_SCHEMA_NONE,
	{
		{ "profile", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "region", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "workspace", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "plan", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ NULL, 0 },
	},
	0,
	NULL,
	NULL,
	NULL,
	NULL,
	NULL,
	NULL,
	NULL,
};

#define FIX_HINT \
	"start gnome-keyring-daemon or KeePassXC's Secret Service, or set 'store = file' in the config"

/* GDBus would try "dbus-launch --autolaunch" under X11 when no address is
 * set; we look for the standard socket and otherwise give up cleanly. */
static int bus_address_ready(void)
{
	const char *addr = getenv("DBUS_SESSION_BUS_ADDRESS");
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char path[512], value[600];
	struct stat sb;

	if (addr && *addr)
		return 1;
	if (!rt || *rt != '/')
		return 0;
	snprintf(path, sizeof(path), "%s/bus", rt);
	if (stat(path, &sb) != 0 || !S_ISSOCK(sb.st_mode))
		return 0;
	snprintf(value, sizeof(value), "unix:path=%s", path);
	setenv("DBUS_SESSION_BUS_ADDRESS", value, 1);
	return 1;
}

static int gerror_to_err(GError *gerr, const char *what, struct ds_err *err)
{
	int rc;

	if (g_error_matches(gerr, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
	    g_error_matches(gerr, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
		rc = ds_err_set(err, DS_ESTORE,
				"No Secret Service provider answers on the session bus; " FIX_HINT
				".");
	else if (gerr && gerr->domain == G_DBUS_ERROR &&
		 (gerr->code == G_DBUS_ERROR_SPAWN_CHILD_EXITED ||
		  gerr->code == G_DBUS_ERROR_SPAWN_EXEC_FAILED ||
		  gerr->code == G_DBUS_ERROR_SPAWN_FAILED || gerr->code == G_DBUS_ERROR_TIMEOUT))
		rc = ds_err_set(err, DS_ESTORE,
				"A Secret Service provider is installed but did not start; " FIX_HINT
				".");
	else if (g_error_matches(gerr, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
		rc = ds_err_set(err, DS_ESTORE,
				"The Secret Service has no usable default keyring (missing or locked); unlock it (log in to the desktop, or run gnome-keyring-daemon --unlock) or set 'store = file'.");
	else
		rc = ds_err_set(err, DS_ESTORE, "The Secret Service failed to %s: %s.", what,
				gerr && gerr->message ? gerr->message : "unknown error");
	g_clear_error(&gerr);
	return rc;
}

/* One property of an object of the service, read with a single call
 * (no proxy); NULL when it cannot be read. */
static GVariant *property_get(SecretService *svc, const char *path, const char *iface,
			      const char *name)
{
	GDBusProxy *proxy = G_DBUS_PROXY(svc);
	GVariant *r, *v = NULL;

	r = g_dbus_connection_call_sync(g_dbus_proxy_get_connection(proxy),
					g_dbus_proxy_get_name(proxy), path,
					"org.freedesktop.DBus.Properties", "Get",
					g_variant_new("(ss)", iface, name), G_VARIANT_TYPE("(v)"),
					G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
	if (r) {
		g_variant_get(r, "(v)", &v);
		g_variant_unref(r);
	}
	return v;
}

static int collection_locked(SecretService *svc, const char *path)
{
	GVariant *v = property_get(svc, path, "org.freedesktop.Secret.Collection", "Locked");
	int locked =
		!v || !g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN) || g_variant_get_boolean(v);

	if (v)
		g_variant_unref(v);
	return locked;
}

/* A locked or missing default collection makes lookups return "nothing"
 * without an error, so it is checked before every write and listing, and
 * before a read concludes that nothing is there. */
static int default_collection_ready(SecretService *svc, int may_prompt, struct ds_err *err)
{
	GError *gerr = NULL;
	gchar *path;
	int rc = DS_OK, locked;

	path = secret_service_read_alias_dbus_path_sync(svc, SECRET_COLLECTION_DEFAULT, NULL,
							&gerr);
	if (gerr)
		return gerror_to_err(gerr, "find the default keyring", err);
	if (!path)
		return ds_err_set(err, DS_ESTORE,
				  "The Secret Service has no default keyring; create or unlock one (e.g. gnome-keyring-daemon --unlock) or set 'store = file'.");
	locked = collection_locked(svc, path);
	if (locked && may_prompt) {
		const gchar *paths[] = { path, NULL };

		/* on a desktop this shows the unlock prompt; headless it fails */
		secret_service_unlock_dbus_paths_sync(svc, paths, NULL, NULL, NULL);
		locked = collection_locked(svc, path);
	}
	if (locked)
		rc = ds_err_set(err, DS_ESTORE,
				"The Secret Service's default keyring is locked; unlock it (log in to the desktop, or run gnome-keyring-daemon --unlock) or set 'store = file'.");
	g_free(path);
	return rc;
}

/* Selection has just read this profile's item: its key can then be read
 * by path, without a second search. */
static void remember_item(struct store *st, const char *name, const char *path)
{
	if (!st->ss_paths)
		st->ss_paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_hash_table_replace(st->ss_paths, g_strdup(name), g_strdup(path));
}

static void forget_items(struct store *st)
{
	if (st->ss_paths)
		g_hash_table_destroy(st->ss_paths);
	st->ss_paths = NULL;
}

static int store_secret_connect(struct store *st, struct ds_err *err)
{
	GError *gerr = NULL;
	SecretService *svc;

	if (!bus_address_ready())
		return ds_err_set(err, DS_ESTORE,
				  "No D-Bus session bus is running, so no Secret Service can answer; " FIX_HINT
				  ".");
	svc = secret_service_get_sync(SECRET_SERVICE_OPEN_SESSION, NULL, &gerr);
	if (!svc)
		return gerror_to_err(gerr, "open a session", err);
	st->ss = svc;
	return DS_OK;
}

static int store_secret_ready(struct store *st, struct ds_err *err)
{
	int rc;

	if (st->ss_ready)
		return DS_OK;
	rc = default_collection_ready(st->ss, st->may_prompt, err);
	st->ss_ready = rc == DS_OK;
	return rc;
}

static void store_secret_close(struct store *st)
{
	if (st->ss)
		g_object_unref(st->ss);
	st->ss = NULL;
	forget_items(st);
}

static int attrs_to_profile(GHashTable *attrs, struct profile *p)
{
	const char *name = g_hash_table_lookup(attrs, "profile");
	const char *region = g_hash_table_lookup(attrs, "region");
	const char *ws = g_hash_table_lookup(attrs, "workspace");
	const char *plan = g_hash_table_lookup(attrs, "plan");

	memset(p, 0, sizeof(*p));
	/* items written by other programs under our schema are skipped, not
	 * trusted: every field passes the same checks as user input */
	if (!name || !region || !plan || !profile_name_valid(name))
		return -1;
	p->place.region = region_find(region);
	if (!p->place.region || plan_parse(plan, &p->place.plan))
		return -1;
	if (ws && *ws) {
		if (!workspace_valid(ws))
			return -1;
		ds_strcpy(p->place.workspace, sizeof(p->place.workspace), ws);
	}
	ds_strcpy(p->name, sizeof(p->name), name);
	return 0;
}

/* One SearchItems call: paths of the unlocked items of our schema (of one
 * profile when only is set); *any_locked tells whether locked ones matched
 * too. Locked items cannot be read: search_paths decides what that means. */
static int search_once(struct store *st, const char *only, gchar ***paths, int *any_locked,
		       struct ds_err *err)
{
	GError *gerr = NULL;
	GHashTable *query = g_hash_table_new(g_str_hash, g_str_equal);
	gchar **locked = NULL;

	*paths = NULL;
	if (only)
		g_hash_table_insert(query, (gpointer) "profile", (gpointer)only);
	secret_service_search_for_dbus_paths_sync(st->ss, &key_schema, query, NULL, paths, &locked,
						  &gerr);
	g_hash_table_unref(query);
	*any_locked = locked && locked[0];
	g_strfreev(locked);
	if (gerr) {
		g_strfreev(*paths);
		*paths = NULL;
		return gerror_to_err(gerr, "search the keyring", err);
	}
	return DS_OK;
}

/* Paths of the unlocked items of our schema (of one profile when only is
 * set). The default keyring is checked only when nothing unlocked is
 * found: a locked or missing keyring then gets its own error (and, where
 * allowed, the unlock prompt) instead of a silent "no match", and the
 * common case costs one SearchItems call. */
static int search_paths(struct store *st, const char *only, gchar ***paths, struct ds_err *err)
{
	int any_locked, rc = search_once(st, only, paths, &any_locked, err);

	if (rc || (*paths && (*paths)[0]) || st->ss_ready)
		return rc;
	g_strfreev(*paths);
	*paths = NULL;
	rc = store_secret_ready(st, err);
	if (rc == DS_OK && any_locked)
		rc = search_once(st, only, paths, &any_locked, err); /* unlocked meanwhile */
	return rc;
}

/* An item's profile from its attributes (one Properties.Get call). */
static int item_profile(struct store *st, const char *path, struct profile *p)
{
	GVariant *v = property_get(st->ss, path, "org.freedesktop.Secret.Item", "Attributes");
	GHashTable *attrs;
	GVariantIter iter;
	const gchar *k, *val;
	int bad;

	if (!v)
		return -1;
	if (!g_variant_is_of_type(v, G_VARIANT_TYPE("a{ss}"))) {
		g_variant_unref(v);
		return -1;
	}
	attrs = g_hash_table_new(g_str_hash, g_str_equal);
	g_variant_iter_init(&iter, v);
	while (g_variant_iter_next(&iter, "{&s&s}", &k, &val))
		g_hash_table_insert(attrs, (gpointer)k, (gpointer)val);
	bad = attrs_to_profile(attrs, p);
	g_hash_table_unref(attrs);
	g_variant_unref(v);
	return bad;
}

/* list with key tails: libsecret's item objects, which load every secret
 * in one GetSecrets call (3 calls per item for the objects, as
 * secret-tool search). The path calls would need
 * secret_service_get_secrets_for_dbus_paths, which leaks its reply in
 * libsecret 0.20 (found by check-valgrind). */
static int list_with_tails(struct store *st, const char *only, struct profile_list *out,
			   struct ds_err *err)
{
	GError *gerr = NULL;
	GHashTable *query = g_hash_table_new(g_str_hash, g_str_equal);
	GList *items;
	int rc = store_secret_ready(st, err);

	if (rc) {
		g_hash_table_unref(query);
		return rc;
	}
	if (only)
		g_hash_table_insert(query, (gpointer) "profile", (gpointer)only);
	items = secret_service_search_sync(st->ss, &key_schema, query,
					   SECRET_SEARCH_ALL | SECRET_SEARCH_LOAD_SECRETS, NULL,
					   &gerr);
	g_hash_table_unref(query);
	if (gerr)
		return gerror_to_err(gerr, "search the keyring", err);
	for (GList *l = items; l && !rc; l = l->next) {
		GHashTable *attrs = secret_item_get_attributes(l->data);
		SecretValue *v;
		struct profile p;
		int bad = attrs_to_profile(attrs, &p);

		g_hash_table_unref(attrs);
		if (bad || profile_list_find(out, p.name))
			continue;
		v = secret_item_get_secret(l->data);
		if (v) {
			gsize len = 0;
			const gchar *s = secret_value_get(v, &len);

			if (s)
				key_tail(s, len, p.key_tail, sizeof(p.key_tail));
			secret_value_unref(v);
		}
		if (profile_list_add(out, &p))
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	g_list_free_full(items, g_object_unref);
	return rc;
}

static int store_secret_list(struct store *st, const char *only, struct profile_list *out,
			     int with_tails, struct ds_err *err)
{
	gchar **paths;
	int rc;

	if (with_tails)
		return list_with_tails(st, only, out, err);
	/* selection needs attributes only: one SearchItems call and one
	 * Properties.Get per item */
	rc = search_paths(st, only, &paths, err);
	for (size_t i = 0; !rc && paths && paths[i]; i++) {
		struct profile p;

		if (item_profile(st, paths[i], &p) || profile_list_find(out, p.name))
			continue;
		if (profile_list_add(out, &p))
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
		else
			remember_item(st, p.name, paths[i]);
	}
	g_strfreev(paths);
	return rc;
}

static int store_secret_get(struct store *st, const char *name, struct secret **key,
			    struct ds_err *err)
{
	GError *gerr = NULL;
	SecretValue *v;
	const gchar *s, *path;
	gsize len = 0;
	int rc = DS_OK;

	/* through our own service object and session: the secret_password_*
	 * calls open a second session (a second key exchange) of their own */
	path = st->ss_paths ? g_hash_table_lookup(st->ss_paths, name) : NULL;
	if (!path) {
		gchar **paths;

		rc = search_paths(st, name, &paths, err);
		if (rc || !paths || !paths[0]) {
			g_strfreev(paths);
			return rc;
		}
		remember_item(st, name, paths[0]);
		g_strfreev(paths);
		path = g_hash_table_lookup(st->ss_paths, name);
	}
	v = secret_service_get_secret_for_dbus_path_sync(st->ss, path, NULL, &gerr);
	if (gerr)
		return gerror_to_err(gerr, "read the key", err);
	s = v ? secret_value_get(v, &len) : NULL;
	if (s) {
		*key = secret_new(s, len);
		if (!*key)
			rc = ds_err_set(err, DS_EFAIL, "Out of memory.");
	}
	/* libsecret keeps the value in its secure memory and wipes it here */
	if (v)
		secret_value_unref(v);
	return rc;
}

/* Items of the same profile under other attributes (an older region or
 * workspace) would survive a plain store; remove them after the new one
 * is safely written. */
static void remove_stale(const struct profile *p)
{
	GError *gerr = NULL;
	GHashTable *query = g_hash_table_new(g_str_hash, g_str_equal);
	GList *items;

	g_hash_table_insert(query, (gpointer) "profile", (gpointer)p->name);
	items = secret_service_search_sync(NULL, &key_schema, query, SECRET_SEARCH_ALL, NULL,
					   &gerr);
	g_hash_table_unref(query);
	g_clear_error(&gerr);
	for (GList *l = items; l; l = l->next) {
		GHashTable *attrs = secret_item_get_attributes(l->data);
		struct profile old;

		/* by id: this module has its own copy of the region table */
		if (attrs_to_profile(attrs, &old) != 0 ||
		    strcmp(old.place.region->id, p->place.region->id) ||
		    strcmp(old.place.workspace, p->place.workspace) ||
		    old.place.plan != p->place.plan)
			secret_item_delete_sync(l->data, NULL, NULL);
		g_hash_table_unref(attrs);
	}
	g_list_free_full(items, g_object_unref);
}

static int store_secret_put(struct store *st, const struct profile *p, const struct secret *key,
			    struct ds_err *err)
{
	GError *gerr = NULL;
	char label[160];
	gboolean ok;
	int rc = store_secret_ready(st, err);

	if (rc)
		return rc;
	forget_items(st);
	snprintf(label, sizeof(label), "DashScope key %s (%s)", p->name, p->place.region->id);
	ok = secret_password_store_sync(&key_schema, SECRET_COLLECTION_DEFAULT, label, key->data,
					NULL, &gerr, "profile", p->name, "region",
					p->place.region->id, "workspace", p->place.workspace,
					"plan", plan_name(p->place.plan), NULL);
	if (!ok || gerr)
		return gerror_to_err(gerr, "store the key", err);
	remove_stale(p);
	return DS_OK;
}

static int store_secret_delete(struct store *st, const char *name, int *found, struct ds_err *err)
{
	GError *gerr = NULL;
	gboolean removed;
	int rc = store_secret_ready(st, err);

	if (rc)
		return rc;
	forget_items(st);
	removed = secret_password_clear_sync(&key_schema, NULL, &gerr, "profile", name, NULL);
	if (gerr)
		return gerror_to_err(gerr, "delete the key", err);
	*found = removed ? 1 : 0;
	return DS_OK;
}

/* The module's one export; store.c checks abi and store_size first. */
const struct secret_backend dscred_secret_backend = {
	SECRET_MODULE_ABI, sizeof(struct store), store_secret_connect, store_secret_close,
	store_secret_list, store_secret_get,	 store_secret_put,     store_secret_delete,
};
