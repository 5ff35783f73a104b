/* SPDX-License-Identifier: MIT */
/* The Secret Service store (libsecret): the key is the secret of an item of
 * schema io.github.dashscope_credential.Key; profile, region, workspace and
 * plan are its public attributes. Never autolaunches a bus. Built as the
 * module dscred-secret-service.so, which store.c loads on first use; it
 * hands back records (store_backend.h) and links none of our code, so
 * messages are formatted here and every record is checked by store.c. */
#include "config.h"
#include "store/store_backend.h"

/* The D-Bus-path calls (secret-paths.h) are marked unstable but have not
 * changed since libsecret 0.7; they let a read cost one call per step
 * instead of three per object (proxy set-up), see bench/analysis.md. */
#define SECRET_API_SUBJECT_TO_CHANGE
#include <libsecret/secret.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct ss_state {
	SecretService *svc;
	int may_prompt; /* may ask the desktop to unlock the keyring */
	int ready; /* the default keyring was found unlocked */
	GHashTable *items; /* profile name -> struct ss_item read by a listing */
};

/* What a listing learnt of an item: where it is and its attributes, so
 * that reading its key costs one call. */
struct ss_item {
	gchar *path;
	gchar *attr[5]; /* profile, region, workspace, plan, key_id */
};

static const char *const attr_names[5] = { "profile", "region", "workspace", "plan", "key_id" };

static int fail(struct ds_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ds_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

static const SecretSchema key_schema = {
	"io.github.dashscope_credential.Key",
	SECRET_SCHEMA_NONE,
	{
		{ "profile", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "region", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "workspace", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "plan", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ "key_id", SECRET_SCHEMA_ATTRIBUTE_STRING },
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
		rc = fail(err, DS_ESTORE,
			  "No Secret Service provider answers on the session bus; " FIX_HINT ".");
	else if (gerr && gerr->domain == G_DBUS_ERROR &&
		 (gerr->code == G_DBUS_ERROR_SPAWN_CHILD_EXITED ||
		  gerr->code == G_DBUS_ERROR_SPAWN_EXEC_FAILED ||
		  gerr->code == G_DBUS_ERROR_SPAWN_FAILED || gerr->code == G_DBUS_ERROR_TIMEOUT))
		rc = fail(err, DS_ESTORE,
			  "A Secret Service provider is installed but did not start; " FIX_HINT
			  ".");
	else if (g_error_matches(gerr, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
		rc = fail(err, DS_ESTORE,
			  "The Secret Service has no usable default keyring (missing or locked); unlock it (log in to the desktop, or run gnome-keyring-daemon --unlock) or set 'store = file'.");
	else
		rc = fail(err, DS_ESTORE, "The Secret Service failed to %s: %s.", what,
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
		return fail(err, DS_ESTORE,
			    "The Secret Service has no default keyring; create or unlock one (e.g. gnome-keyring-daemon --unlock) or set 'store = file'.");
	locked = collection_locked(svc, path);
	if (locked && may_prompt) {
		const gchar *paths[] = { path, NULL };

		/* on a desktop this shows the unlock prompt; headless it fails */
		secret_service_unlock_dbus_paths_sync(svc, paths, NULL, NULL, NULL);
		locked = collection_locked(svc, path);
	}
	if (locked)
		rc = fail(err, DS_ESTORE,
			  "The Secret Service's default keyring is locked; unlock it (log in to the desktop, or run gnome-keyring-daemon --unlock) or set 'store = file'.");
	g_free(path);
	return rc;
}

static void item_free(gpointer p)
{
	struct ss_item *it = p;

	g_free(it->path);
	for (int i = 0; i < 5; i++)
		g_free(it->attr[i]);
	g_free(it);
}

/* A listing has just read this item: its key can then be read by path,
 * without a second search. */
static void remember_item(struct ss_state *ss, const char *path, GHashTable *attrs)
{
	struct ss_item *it = g_new0(struct ss_item, 1);

	it->path = g_strdup(path);
	for (int i = 0; i < 5; i++)
		it->attr[i] = g_strdup(g_hash_table_lookup(attrs, attr_names[i]));
	if (!ss->items)
		ss->items = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, item_free);
	g_hash_table_replace(ss->items, g_strdup(it->attr[0]), it);
}

static void forget_items(struct ss_state *ss)
{
	if (ss->items)
		g_hash_table_destroy(ss->items);
	ss->items = NULL;
}

static int ss_open(const struct store_params *p, void **state, struct ds_err *err)
{
	GError *gerr = NULL;
	struct ss_state *ss;
	SecretService *svc;

	if (!bus_address_ready())
		return fail(err, DS_ESTORE,
			    "No D-Bus session bus is running, so no Secret Service can answer; " FIX_HINT
			    ".");
	svc = secret_service_get_sync(SECRET_SERVICE_OPEN_SESSION, NULL, &gerr);
	if (!svc)
		return gerror_to_err(gerr, "open a session", err);
	ss = g_new0(struct ss_state, 1);
	ss->svc = svc;
	ss->may_prompt = p->may_prompt;
	*state = ss;
	return DS_OK;
}

static int ss_ready(struct ss_state *ss, struct ds_err *err)
{
	int rc;

	if (ss->ready)
		return DS_OK;
	rc = default_collection_ready(ss->svc, ss->may_prompt, err);
	ss->ready = rc == DS_OK;
	return rc;
}

static void ss_close(void *state)
{
	struct ss_state *ss = state;

	if (!ss)
		return;
	if (ss->svc)
		g_object_unref(ss->svc);
	forget_items(ss);
	g_free(ss);
}

/* An item's attributes as a record (strings owned by attrs). */
static struct store_record attrs_record(GHashTable *attrs)
{
	struct store_record r = { g_hash_table_lookup(attrs, "profile"),
				  g_hash_table_lookup(attrs, "region"),
				  g_hash_table_lookup(attrs, "workspace"),
				  g_hash_table_lookup(attrs, "plan"),
				  NULL,
				  0,
				  0,
				  g_hash_table_lookup(attrs, "key_id") };

	if (!r.workspace)
		r.workspace = "";
	return r;
}

/* One SearchItems call: paths of the unlocked items of our schema (of one
 * profile when only is set); *any_locked tells whether locked ones matched
 * too. Locked items cannot be read: search_paths decides what that means. */
static int search_once(struct ss_state *ss, const char *only, gchar ***paths, int *any_locked,
		       struct ds_err *err)
{
	GError *gerr = NULL;
	GHashTable *query = g_hash_table_new(g_str_hash, g_str_equal);
	gchar **locked = NULL;

	*paths = NULL;
	if (only)
		g_hash_table_insert(query, (gpointer) "profile", (gpointer)only);
	secret_service_search_for_dbus_paths_sync(ss->svc, &key_schema, query, NULL, paths, &locked,
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
static int search_paths(struct ss_state *ss, const char *only, gchar ***paths, struct ds_err *err)
{
	int any_locked, rc = search_once(ss, only, paths, &any_locked, err);

	if (rc || (*paths && (*paths)[0]) || ss->ready)
		return rc;
	g_strfreev(*paths);
	*paths = NULL;
	rc = ss_ready(ss, err);
	if (rc == DS_OK && any_locked)
		rc = search_once(ss, only, paths, &any_locked, err); /* unlocked meanwhile */
	return rc;
}

/* An item's attributes (one Properties.Get call); NULL when unreadable. */
static GHashTable *item_attributes(struct ss_state *ss, const char *path, GVariant **hold)
{
	GVariant *v = property_get(ss->svc, path, "org.freedesktop.Secret.Item", "Attributes");
	GHashTable *attrs;
	GVariantIter iter;
	const gchar *k, *val;

	*hold = NULL;
	if (!v)
		return NULL;
	if (!g_variant_is_of_type(v, G_VARIANT_TYPE("a{ss}"))) {
		g_variant_unref(v);
		return NULL;
	}
	attrs = g_hash_table_new(g_str_hash, g_str_equal);
	g_variant_iter_init(&iter, v);
	while (g_variant_iter_next(&iter, "{&s&s}", &k, &val))
		g_hash_table_insert(attrs, (gpointer)k, (gpointer)val);
	*hold = v;
	return attrs;
}

/* Hands r to each with the secret of v (taken: libsecret keeps the value
 * in its secure memory and wipes it on the unref). */
static int give_with_secret(struct store_record *r, SecretValue *v, store_record_fn each, void *ctx)
{
	gsize len = 0;
	int rc;

	r->secret = v ? secret_value_get(v, &len) : NULL;
	r->secret_len = len;
	if (!r->secret)
		r->secret = "";
	rc = each(ctx, r);
	if (v)
		secret_value_unref(v);
	return rc;
}

/* list with keys: libsecret's item objects, which load every secret in
 * one GetSecrets call (3 calls per item for the objects, as secret-tool
 * search). The path calls would need
 * secret_service_get_secrets_for_dbus_paths, which leaks its reply in
 * libsecret 0.20 (found by check-valgrind). */
static int list_with_secrets(struct ss_state *ss, const char *only, store_record_fn each, void *ctx,
			     struct ds_err *err)
{
	GError *gerr = NULL;
	GHashTable *query = g_hash_table_new(g_str_hash, g_str_equal);
	GList *items;
	int rc = ss_ready(ss, err);

	if (rc) {
		g_hash_table_unref(query);
		return rc;
	}
	if (only)
		g_hash_table_insert(query, (gpointer) "profile", (gpointer)only);
	items = secret_service_search_sync(ss->svc, &key_schema, query,
					   SECRET_SEARCH_ALL | SECRET_SEARCH_LOAD_SECRETS, NULL,
					   &gerr);
	g_hash_table_unref(query);
	if (gerr)
		return gerror_to_err(gerr, "search the keyring", err);
	for (GList *l = items; l && !rc; l = l->next) {
		GHashTable *attrs = secret_item_get_attributes(l->data);
		struct store_record r = attrs_record(attrs);

		rc = give_with_secret(&r, secret_item_get_secret(l->data), each, ctx);
		g_hash_table_unref(attrs);
	}
	g_list_free_full(items, g_object_unref);
	return rc;
}

static int ss_list(void *state, const char *only, int with_secret, store_record_fn each, void *ctx,
		   struct ds_err *err)
{
	struct ss_state *ss = state;
	gchar **paths;
	int rc;

	if (with_secret)
		return list_with_secrets(ss, only, each, ctx, err);
	/* selection needs attributes only: one SearchItems call and one
	 * Properties.Get per item */
	rc = search_paths(ss, only, &paths, err);
	for (size_t i = 0; !rc && paths && paths[i]; i++) {
		GVariant *hold;
		GHashTable *attrs = item_attributes(ss, paths[i], &hold);
		struct store_record r;

		if (!attrs)
			continue;
		r = attrs_record(attrs);
		if (r.name)
			remember_item(ss, paths[i], attrs);
		rc = each(ctx, &r);
		g_hash_table_unref(attrs);
		g_variant_unref(hold);
	}
	g_strfreev(paths);
	return rc;
}

/* The remembered item of name, searching for it when no listing read it. */
static const struct ss_item *find_item(struct ss_state *ss, const char *name, struct ds_err *err,
				       int *rc)
{
	const struct ss_item *it = ss->items ? g_hash_table_lookup(ss->items, name) : NULL;
	gchar **paths;

	*rc = DS_OK;
	if (it)
		return it;
	*rc = search_paths(ss, name, &paths, err);
	for (size_t i = 0; !*rc && paths && paths[i] && !it; i++) {
		GVariant *hold;
		GHashTable *attrs = item_attributes(ss, paths[i], &hold);

		if (!attrs)
			continue;
		if (g_strcmp0(g_hash_table_lookup(attrs, "profile"), name) == 0) {
			remember_item(ss, paths[i], attrs);
			it = g_hash_table_lookup(ss->items, name);
		}
		g_hash_table_unref(attrs);
		g_variant_unref(hold);
	}
	g_strfreev(paths);
	return it;
}

/* Through our own service object and session: the secret_password_* calls
 * open a second session (a second key exchange) of their own. */
static int ss_get(void *state, const char *name, store_record_fn each, void *ctx,
		  struct ds_err *err)
{
	struct ss_state *ss = state;
	GError *gerr = NULL;
	const struct ss_item *it;
	SecretValue *v;
	struct store_record r;
	int rc;

	it = find_item(ss, name, err, &rc);
	if (rc || !it)
		return rc;
	v = secret_service_get_secret_for_dbus_path_sync(ss->svc, it->path, NULL, &gerr);
	if (gerr)
		return gerror_to_err(gerr, "read the key", err);
	r = (struct store_record){ it->attr[0], it->attr[1], it->attr[2] ? it->attr[2] : "",
				   it->attr[3], NULL,	     0,
				   0,		it->attr[4] };
	return give_with_secret(&r, v, each, ctx);
}

/* Items of the same profile under other attributes (an older region or
 * workspace) would survive a plain store; remove them after the new one
 * is safely written. */
static void remove_stale(struct ss_state *ss, const struct store_record *rec)
{
	GError *gerr = NULL;
	GHashTable *query = g_hash_table_new(g_str_hash, g_str_equal);
	GList *items;

	g_hash_table_insert(query, (gpointer) "profile", (gpointer)rec->name);
	items = secret_service_search_sync(ss->svc, &key_schema, query, SECRET_SEARCH_ALL, NULL,
					   &gerr);
	g_hash_table_unref(query);
	g_clear_error(&gerr);
	for (GList *l = items; l; l = l->next) {
		GHashTable *attrs = secret_item_get_attributes(l->data);
		struct store_record old = attrs_record(attrs);

		if (g_strcmp0(old.region, rec->region) ||
		    g_strcmp0(old.workspace, rec->workspace) || g_strcmp0(old.plan, rec->plan) ||
		    g_strcmp0(old.key_id, rec->key_id ? rec->key_id : ""))
			secret_item_delete_sync(l->data, NULL, NULL);
		g_hash_table_unref(attrs);
	}
	g_list_free_full(items, g_object_unref);
}

static int ss_put(void *state, const struct store_record *rec, struct ds_err *err)
{
	struct ss_state *ss = state;
	GError *gerr = NULL;
	char label[160];
	gboolean ok;
	int rc = ss_ready(ss, err);

	if (rc)
		return rc;
	forget_items(ss);
	snprintf(label, sizeof(label), "DashScope key %s (%s)", rec->name, rec->region);
	ok = secret_password_store_sync(&key_schema, SECRET_COLLECTION_DEFAULT, label, rec->secret,
					NULL, &gerr, "profile", rec->name, "region", rec->region,
					"workspace", rec->workspace, "plan", rec->plan, "key_id",
					rec->key_id ? rec->key_id : "", NULL);
	if (!ok || gerr)
		return gerror_to_err(gerr, "store the key", err);
	remove_stale(ss, rec);
	return DS_OK;
}

/* The Secret Service has no delete-if-equal: by name, erase having
 * compared the key just before (a key stored in between goes too). */
static int ss_del(void *state, const char *name, const char *secret, size_t secret_len, int *found,
		  struct ds_err *err)
{
	struct ss_state *ss = state;
	GError *gerr = NULL;
	gboolean removed;
	int rc = ss_ready(ss, err);

	(void)secret;
	(void)secret_len;
	if (rc)
		return rc;
	forget_items(ss);
	removed = secret_password_clear_sync(&key_schema, NULL, &gerr, "profile", name, NULL);
	if (gerr)
		return gerror_to_err(gerr, "delete the key", err);
	*found = removed ? 1 : 0;
	return DS_OK;
}

/* The module's one export; store.c checks abi first. */
const struct store_ops dscred_secret_store = {
	STORE_BACKEND_ABI,
	"secret-service",
	ss_open,
	ss_close,
	ss_list,
	ss_get,
	ss_put,
	ss_del,
	NULL,
};
