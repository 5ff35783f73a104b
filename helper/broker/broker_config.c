/* SPDX-License-Identifier: MIT */
/* The rules as they are now (SPEC section 12): the system config is looked
 * at (stat) on every request and parsed again when its inode, size, mtime
 * or ctime changed. Each request holds a reference to the configuration it
 * started with; a configuration that no longer parses refuses everyone. */
#include "config.h"
#include "broker/broker_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What the config file looked like when it was parsed; absent: no file. */
struct config_stamp {
	int absent;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

/* One parsed configuration, shared by the requests that started under it. */
struct broker_config {
	struct conf conf;
	unsigned refs; /* the broker's own, and one per request holding it */
	int bad; /* it did not parse: why says so */
	struct ds_err why;
	struct config_stamp stamp;
};

static void config_stamp_of(const char *path, struct config_stamp *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (stat(path, &st) != 0) {
		s->absent = 1;
		return;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
	s->ctime = st.st_ctim;
}

static int config_stamp_same(const struct config_stamp *a, const struct config_stamp *b)
{
	return a->absent == b->absent && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static void config_unref(struct broker_config *c)
{
	if (c && --c->refs == 0) {
		conf_free(&c->conf);
		free(c);
	}
}

/* A fresh parse of the whole configuration, as main's was; stamped before
 * it reads, so that a change while it reads is seen at the next request. */
static struct broker_config *config_load(const char *path)
{
	struct broker_config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->refs = 1;
	config_stamp_of(path, &c->stamp);
	if (conf_load(&c->conf, &c->why) != DS_OK)
		c->bad = 1;
	return c;
}

int broker_config_init(struct broker *b, struct ds_err *err)
{
	b->config = config_load(b->app->conf.system_path);
	if (!b->config)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	if (b->config->bad) {
		*err = b->config->why;
		return err->code ? err->code : DS_EINPUT;
	}
	return DS_OK;
}

void broker_config_free(struct broker *b)
{
	config_unref(b->config);
	b->config = NULL;
}

/* Parsing is short (a small regular file: ini_parse_file refuses the
 * rest) and happens only after a change, so it runs under the lock. */
int broker_config_take(struct broker *b, struct app *out, struct broker_config **held,
		       struct ds_err *err)
{
	struct config_stamp now;
	struct broker_config *c;
	int rc = DS_OK;

	config_stamp_of(b->app->conf.system_path, &now);
	pthread_mutex_lock(&b->lock);
	if (!config_stamp_same(&now, &b->config->stamp)) {
		struct broker_config *fresh = config_load(b->app->conf.system_path);

		if (fresh) {
			config_unref(b->config);
			b->config = fresh;
		}
	}
	c = b->config;
	c->refs++;
	pthread_mutex_unlock(&b->lock);
	*held = c;
	*out = *b->app;
	out->conf = c->conf;
	if (c->bad)
		rc = ds_err_set(err, DS_ESTORE,
				"The broker's configuration does not parse, so it refuses everyone: %s",
				c->why.msg);
	return rc;
}

void broker_config_release(struct broker *b, struct broker_config *held)
{
	pthread_mutex_lock(&b->lock);
	config_unref(held);
	pthread_mutex_unlock(&b->lock);
}
