/* SPDX-License-Identifier: MIT */
/* base/: the loopback rule, the monotonic deadline and the kernel's word
 * on who owns a socket, in process. */
#include "config.h"
#include "check_main.h"
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <ftw.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include "base/clock.h"
#include "base/file_batch.h"
#include "base/run_filter.h"
#include "base/loopback.h"
#include "base/peer_uid.h"

START_TEST(test_loopback_names_are_localhost_v6_one_and_127_quads)
{
	ck_assert(loopback_name("localhost"));
	ck_assert(loopback_name("LocalHost"));
	ck_assert(loopback_name("[::1]"));
	ck_assert(loopback_name("127.0.0.1"));
	ck_assert(loopback_name("127.255.3.4"));
}
END_TEST

START_TEST(test_loopback_names_refuse_what_only_looks_like_loopback)
{
	/* a resolver would look these up as names */
	ck_assert(!loopback_name("127.0.0.999"));
	ck_assert(!loopback_name("127.0.0.08"));
	ck_assert(!loopback_name("127.1"));
	ck_assert(!loopback_name("0x7f.0.0.1"));
	ck_assert(!loopback_name("localhost.example.com"));
	ck_assert(!loopback_name("128.0.0.1"));
	ck_assert(!loopback_name("::1")); /* a URL writes it in brackets */
	ck_assert(!loopback_name(""));
}
END_TEST

START_TEST(test_loopback_addresses_by_family)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };

	v4.sin_addr.s_addr = htonl(0x7f000001);
	ck_assert(loopback_sockaddr((struct sockaddr *)&v4));
	v4.sin_addr.s_addr = htonl(0x0a000001);
	ck_assert(!loopback_sockaddr((struct sockaddr *)&v4));
	v6.sin6_addr = in6addr_loopback;
	ck_assert(loopback_sockaddr((struct sockaddr *)&v6));
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:127.0.0.2", &v6.sin6_addr), 1);
	ck_assert(loopback_sockaddr((struct sockaddr *)&v6));
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:10.0.0.1", &v6.sin6_addr), 1);
	ck_assert(!loopback_sockaddr((struct sockaddr *)&v6));
	ck_assert_int_eq(inet_pton(AF_INET6, "fe80::1", &v6.sin6_addr), 1);
	ck_assert(!loopback_sockaddr((struct sockaddr *)&v6));
}
END_TEST

START_TEST(test_deadline_left_is_zero_once_passed_and_capped_when_asked)
{
	long long past = clock_now_ms() - 1, future = clock_deadline_in(60000);

	ck_assert_int_eq(clock_left_ms(past, 0), 0);
	ck_assert_int_gt(clock_left_ms(future, 0), 250);
	ck_assert_int_eq(clock_left_ms(future, 250), 250);
}
END_TEST

START_TEST(test_deadline_wait_times_out_on_a_silent_descriptor)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(clock_wait_fd(p[0], POLLIN, clock_deadline_in(20)), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(clock_wait_fd(p[0], POLLIN, clock_deadline_in(60000)), 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* A listener on the loopback address of family, a client connected to it
 * and the accepted end; the addresses as each end sees itself. */
struct tcp_pair {
	int lfd, cfd, afd;
	struct sockaddr_storage laddr, caddr;
};

static int tcp_pair_make(int family, struct tcp_pair *p)
{
	socklen_t sl = sizeof(p->laddr);
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	struct sockaddr *a = family == AF_INET ? (struct sockaddr *)&v4 : (struct sockaddr *)&v6;
	socklen_t alen = family == AF_INET ? sizeof(v4) : sizeof(v6);

	v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	v6.sin6_addr = in6addr_loopback;
	p->lfd = socket(family, SOCK_STREAM, 0);
	if (p->lfd < 0 || bind(p->lfd, a, alen) != 0 || listen(p->lfd, 1) != 0 ||
	    getsockname(p->lfd, (struct sockaddr *)&p->laddr, &sl) != 0)
		return -1;
	p->cfd = socket(family, SOCK_STREAM, 0);
	if (p->cfd < 0 || connect(p->cfd, (struct sockaddr *)&p->laddr, sl) != 0)
		return -1;
	sl = sizeof(p->caddr);
	if (getsockname(p->cfd, (struct sockaddr *)&p->caddr, &sl) != 0)
		return -1;
	p->afd = accept(p->lfd, NULL, NULL);
	return p->afd < 0 ? -1 : 0;
}

static void tcp_pair_close(struct tcp_pair *p)
{
	close(p->afd);
	close(p->cfd);
	close(p->lfd);
}

START_TEST(test_peer_uid_names_the_owner_of_a_loopback_v4_client)
{
	struct tcp_pair p;
	uid_t uid = (uid_t)-1;

	ck_assert_int_eq(tcp_pair_make(AF_INET, &p), 0);
	ck_assert_int_eq(peer_uid_of_socket((struct sockaddr *)&p.caddr,
					    (struct sockaddr *)&p.laddr, &uid),
			 0);
	ck_assert_int_eq(uid, getuid());
	tcp_pair_close(&p);
}
END_TEST

START_TEST(test_peer_uid_names_the_owner_of_a_loopback_v6_client)
{
	struct tcp_pair p;
	uid_t uid = (uid_t)-1;

	if (tcp_pair_make(AF_INET6, &p) != 0)
		return; /* no IPv6 here */
	ck_assert_int_eq(peer_uid_of_socket((struct sockaddr *)&p.caddr,
					    (struct sockaddr *)&p.laddr, &uid),
			 0);
	ck_assert_int_eq(uid, getuid());
	tcp_pair_close(&p);
}
END_TEST

START_TEST(test_peer_uid_names_the_owner_of_a_listener)
{
	struct tcp_pair p;
	uid_t uid = (uid_t)-1;

	ck_assert_int_eq(tcp_pair_make(AF_INET, &p), 0);
	ck_assert_int_eq(peer_uid_of_socket((struct sockaddr *)&p.laddr, NULL, &uid), 0);
	ck_assert_int_eq(uid, getuid());
	tcp_pair_close(&p);
}
END_TEST

START_TEST(test_peer_uid_finds_nothing_for_a_tuple_no_socket_has)
{
	struct tcp_pair p;
	uid_t uid = 4242;

	ck_assert_int_eq(tcp_pair_make(AF_INET, &p), 0);
	/* the client's port, but another peer: no such connection */
	((struct sockaddr_in *)&p.laddr)->sin_port ^= htons(1);
	ck_assert_int_eq(peer_uid_of_socket((struct sockaddr *)&p.caddr,
					    (struct sockaddr *)&p.laddr, &uid),
			 -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(uid, 4242);
	tcp_pair_close(&p);
}
END_TEST

/* ---- file_batch: several files as one ---- */
static char batch_dir[256];

static void batch_setup(void)
{
	const char *tmp = getenv("TMPDIR");

	ck_assert_int_lt(snprintf(batch_dir, sizeof(batch_dir), "%.200s/ds-batch.XXXXXX",
				  tmp && *tmp ? tmp : "/tmp"),
			 (int)sizeof(batch_dir));
	ck_assert_ptr_nonnull(mkdtemp(batch_dir));
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* the directory and all in it, links not followed */
static void batch_teardown(void)
{
	ck_assert_int_eq(nftw(batch_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void batch_path(char *out, const char *leaf)
{
	snprintf(out, PATH_MAX, "%s/%s", batch_dir, leaf);
}

static void put(const char *leaf, const char *text, mode_t mode)
{
	char p[PATH_MAX];
	FILE *f;

	batch_path(p, leaf);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(p, mode), 0);
}

/* the file's text, or "(none)" */
static const char *text_of(const char *leaf)
{
	static char buf[256];
	char p[PATH_MAX];
	FILE *f;
	size_t n;

	batch_path(p, leaf);
	f = fopen(p, "r");
	if (!f)
		return "(none)";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void change(struct file_change *c, char *path, const char *leaf, const char *data)
{
	memset(c, 0, sizeof(*c));
	batch_path(path, leaf);
	c->path = path;
	c->data = data;
	c->len = data ? strlen(data) : 0;
	c->mode = 0644;
	c->dir_mode = 0755;
}

/* Two files there (a, gone) and one to make: a changed, gone deleted,
 * new/dir/made written, in c[0..2]. */
static void changes_of_three(struct file_change *c, char *a, char *gone, char *made)
{
	put("a", "old a\n", 0640);
	put("gone", "old gone\n", 0600);
	change(&c[0], a, "a", "new a\n");
	change(&c[1], gone, "gone", NULL);
	change(&c[2], made, "new/dir/made", "made\n");
}

/* What changes_of_three changed is as it was, what it made is gone. */
static void three_put_back(const char *a)
{
	char made[PATH_MAX];
	struct stat sb;

	ck_assert_str_eq(text_of("a"), "old a\n");
	ck_assert_int_eq(stat(a, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0640);
	ck_assert_str_eq(text_of("gone"), "old gone\n");
	batch_path(made, "new");
	ck_assert_int_ne(lstat(made, &sb), 0);
}

START_TEST(test_file_batch_writes_every_file_and_makes_their_directories)
{
	char a[PATH_MAX], b[PATH_MAX];
	struct file_change c[2];
	struct ds_err err;
	struct stat sb;

	batch_setup();
	put("a", "old a\n", 0600);
	change(&c[0], a, "a", "new a\n");
	c[0].keep_mode = 1;
	change(&c[1], b, "d1/d2/b", "new b\n");
	ck_assert_int_eq(file_batch_prepare(c, 2, &err), DS_OK);
	ck_assert_int_eq(file_batch_apply(c, 2, &err), DS_OK);
	file_batch_free(c, 2);
	ck_assert_str_eq(text_of("a"), "new a\n");
	ck_assert_str_eq(text_of("d1/d2/b"), "new b\n");
	ck_assert_int_eq(stat(a, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(b, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0644);
	batch_teardown();
}
END_TEST

START_TEST(test_file_batch_puts_back_what_it_did_when_a_later_change_fails)
{
	char a[PATH_MAX], gone[PATH_MAX], made[PATH_MAX], bad[PATH_MAX], link[PATH_MAX],
		to[PATH_MAX];
	struct file_change c[4];
	struct ds_err err;

	batch_setup();
	changes_of_three(c, a, gone, made);
	/* a directory that is not there only when written to */
	batch_path(link, "link");
	batch_path(to, "nowhere/at/all");
	ck_assert_int_eq(symlink(to, link), 0);
	change(&c[3], bad, "link/bad", "bad\n");
	ck_assert_int_eq(file_batch_prepare(c, 4, &err), DS_OK);
	ck_assert_int_eq(file_batch_apply(c, 4, &err), DS_ESTORE);
	file_batch_free(c, 4);
	three_put_back(a);
	ck_assert_ptr_null(strstr(err.msg, "back failed"));
	batch_teardown();
}
END_TEST

/* A batch that applied whole, then a step after it failed (the sealed
 * add's change of the broker's key file): each file as it was, what was
 * made gone, the failure's sentence kept. */
START_TEST(test_file_batch_undo_puts_back_a_batch_that_applied_whole)
{
	char a[PATH_MAX], gone[PATH_MAX], made[PATH_MAX];
	struct file_change c[3];
	struct ds_err err;

	batch_setup();
	changes_of_three(c, a, gone, made);
	ck_assert_int_eq(file_batch_prepare(c, 3, &err), DS_OK);
	ck_assert_int_eq(file_batch_apply(c, 3, &err), DS_OK);
	ck_assert_str_eq(text_of("new/dir/made"), "made\n");
	ds_err_set(&err, DS_ESTORE, "The step after failed.");
	file_batch_undo(c, 3, &err);
	file_batch_free(c, 3);
	three_put_back(a);
	ck_assert_int_eq(err.code, DS_ESTORE);
	ck_assert_str_eq(err.msg, "The step after failed.");
	batch_teardown();
}
END_TEST

START_TEST(test_file_batch_refuses_a_symlink_fifo_or_directory_where_it_writes)
{
	static const char *const leaves[] = { "link", "fifo", "dir" };
	char p[PATH_MAX], target[PATH_MAX];
	struct file_change c;
	struct ds_err err;

	batch_setup();
	batch_path(target, "target");
	batch_path(p, "link");
	ck_assert_int_eq(symlink(target, p), 0);
	batch_path(p, "fifo");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	batch_path(p, "dir");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		change(&c, p, leaves[i], "x");
		ck_assert_int_eq(file_batch_prepare(&c, 1, &err), DS_ESTORE);
		ck_assert_ptr_nonnull(strstr(err.msg, p));
		file_batch_free(&c, 1);
	}
	ck_assert_str_eq(text_of("target"), "(none)");
	batch_teardown();
}
END_TEST

/* ---- run_filter: a program's stdin and stdout ---- */
static void filter(struct run_filter *f, const char *const *argv, const char *in, size_t max_out,
		   long long timeout_ms)
{
	memset(f, 0, sizeof(*f));
	f->argv = argv;
	f->in = in;
	f->inlen = in ? strlen(in) : 0;
	f->max_out = max_out;
	f->timeout_ms = timeout_ms;
}

START_TEST(test_run_filter_feeds_stdin_and_reads_stdout)
{
	const char *const argv[] = { "/bin/cat", NULL };
	struct run_filter f;
	struct ds_err err;

	filter(&f, argv, "sk-on-a-pipe", 100, 60000);
	ck_assert_int_eq(run_filter(&f, &err), DS_OK);
	ck_assert_int_eq(f.status, 0);
	ck_assert_str_eq(f.out, "sk-on-a-pipe");
	run_filter_free(&f);
	ck_assert_ptr_null(f.out);
}
END_TEST

START_TEST(test_run_filter_gives_the_status_and_the_last_line_of_stderr)
{
	const char *const argv[] = { "/bin/sh", "-c",
				     "echo a warning >&2; echo why it failed >&2; exit 3", NULL };
	struct run_filter f;
	struct ds_err err;

	filter(&f, argv, NULL, 100, 60000);
	ck_assert_int_eq(run_filter(&f, &err), DS_OK);
	ck_assert_int_eq(f.status, 3);
	ck_assert_str_eq(f.errline, "why it failed");
	run_filter_free(&f);
}
END_TEST

START_TEST(test_run_filter_stops_a_program_that_writes_too_much)
{
	const char *const argv[] = { "/usr/bin/yes", NULL };
	struct run_filter f;
	struct ds_err err;

	filter(&f, argv, NULL, 100, 60000);
	ck_assert_int_eq(run_filter(&f, &err), DS_EFAIL);
	ck_assert_ptr_nonnull(strstr(err.msg, "wrote more than expected"));
	ck_assert_ptr_null(f.out);
}
END_TEST

START_TEST(test_run_filter_stops_a_program_past_its_deadline)
{
	const char *const argv[] = { "/bin/sleep", "600", NULL };
	struct run_filter f;
	struct ds_err err;

	filter(&f, argv, NULL, 100, 50);
	ck_assert_int_eq(run_filter(&f, &err), DS_EFAIL);
	ck_assert_ptr_nonnull(strstr(err.msg, "did not finish in time"));
}
END_TEST

START_TEST(test_run_filter_says_when_the_program_cannot_start)
{
	const char *const argv[] = { "/nonexistent/program", NULL };
	struct run_filter f;
	struct ds_err err;

	filter(&f, argv, "x", 100, 60000);
	ck_assert_int_eq(run_filter(&f, &err), DS_EFAIL);
	ck_assert_ptr_nonnull(strstr(err.msg, "Cannot run /nonexistent/program"));
}
END_TEST

Suite *suite_make(void)
{
	Suite *s = suite_create("base");
	TCase *tc = tcase_create("base");

	ADD(tc, test_loopback_names_are_localhost_v6_one_and_127_quads);
	ADD(tc, test_loopback_names_refuse_what_only_looks_like_loopback);
	ADD(tc, test_loopback_addresses_by_family);
	ADD(tc, test_deadline_left_is_zero_once_passed_and_capped_when_asked);
	ADD(tc, test_deadline_wait_times_out_on_a_silent_descriptor);
	ADD(tc, test_peer_uid_names_the_owner_of_a_loopback_v4_client);
	ADD(tc, test_peer_uid_names_the_owner_of_a_loopback_v6_client);
	ADD(tc, test_peer_uid_names_the_owner_of_a_listener);
	ADD(tc, test_peer_uid_finds_nothing_for_a_tuple_no_socket_has);
	ADD(tc, test_file_batch_writes_every_file_and_makes_their_directories);
	ADD(tc, test_file_batch_puts_back_what_it_did_when_a_later_change_fails);
	ADD(tc, test_file_batch_undo_puts_back_a_batch_that_applied_whole);
	ADD(tc, test_file_batch_refuses_a_symlink_fifo_or_directory_where_it_writes);
	ADD(tc, test_run_filter_feeds_stdin_and_reads_stdout);
	ADD(tc, test_run_filter_gives_the_status_and_the_last_line_of_stderr);
	ADD(tc, test_run_filter_stops_a_program_that_writes_too_much);
	ADD(tc, test_run_filter_stops_a_program_past_its_deadline);
	ADD(tc, test_run_filter_says_when_the_program_cannot_start);
	suite_add_tcase(s, tc);
	return s;
}
