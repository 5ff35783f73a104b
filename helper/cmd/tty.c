/* SPDX-License-Identifier: MIT */
/* Reading a key from a person: the terminal with echo off (restored on
 * every path, including SIGINT and SIGTSTP), or one line of a pipe. */
#include "config.h"
#include "cmd/cmd_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define KEY_INPUT_MAX 1024

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/* Reads up to LF or end; returns length, or -1 when the line is too long
 * or the read failed. The buffer is wiped by the caller. */
static ssize_t read_line(int fd, char *buf, size_t n)
{
	size_t len = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR) {
			if (got_signal)
				return -1;
			continue;
		}
		if (r <= 0 || c == '\n')
			break;
		if (len + 1 >= n)
			return -1;
		buf[len++] = c;
	}
	if (len && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return (ssize_t)len;
}

static ssize_t read_from_tty(const char *prompt, char *buf, size_t n)
{
	struct termios saved, quiet;
	struct sigaction sa, old_int, old_tstp, old_term, old_hup;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	ssize_t len;

	if (fd < 0)
		return -1;
	if (tcgetattr(fd, &saved) != 0) {
		close(fd);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	got_signal = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTSTP, &sa, &old_tstp);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	quiet = saved;
	quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* the prompt is a courtesy; reading still works */
	}
	tcsetattr(fd, TCSAFLUSH, &quiet);
	len = read_line(fd, buf, n);
	tcsetattr(fd, TCSAFLUSH, &saved);
	if (write(fd, "\n", 1) < 0) {
		/* ignored: the key is read */
	}
	close(fd);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTSTP, &old_tstp, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	if (got_signal) {
		explicit_bzero(buf, n);
		raise(got_signal);
		return -1;
	}
	return len;
}

int tty_read_key(const char *prompt, struct secret **out, struct ds_err *err)
{
	char buf[KEY_INPUT_MAX];
	const char *start = buf;
	ssize_t len;

	*out = NULL;
	if (isatty(STDIN_FILENO))
		len = read_from_tty(prompt, buf, sizeof(buf));
	else
		len = read_line(STDIN_FILENO, buf, sizeof(buf));
	/* a paste often brings a space or tab at either end; one inside is
	 * still refused where the key is checked */
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	while (len > 0 && (*start == ' ' || *start == '\t')) {
		start++;
		len--;
	}
	if (len <= 0) {
		explicit_bzero(buf, sizeof(buf));
		return ds_err_set(err, DS_EINPUT,
				  "No key was read; paste it at the prompt or pipe it on standard input.");
	}
	*out = secret_new(start, (size_t)len);
	explicit_bzero(buf, sizeof(buf));
	if (!*out)
		return ds_err_set(err, DS_EFAIL, "Out of memory.");
	return DS_OK;
}
