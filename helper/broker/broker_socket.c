/* SPDX-License-Identifier: MIT */
/* The broker's listening socket (SPEC section 12): the one systemd passed
 * (dashscope-credential-broker.socket), or one made at --listen PATH. Both
 * are Unix stream sockets: callers are known by SO_PEERCRED. */
#include "config.h"
#include "broker/broker_int.h"
#include "base/listen_fds.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int broker_socket_activated(int *fd, struct ds_err *err)
{
	static const char hint[] = "the broker takes one Unix stream socket (ListenStream=PATH)";
	struct sockaddr_un sa;
	socklen_t l = sizeof(sa);
	int rc = listen_fds_take(hint, fd, err);

	if (rc != DS_OK || *fd < 0)
		return rc;
	if (getsockname(*fd, (struct sockaddr *)&sa, &l) != 0 || sa.sun_family != AF_UNIX)
		return ds_err_set(err, DS_EINPUT,
				  "The socket systemd passed is not a Unix socket; %s.", hint);
	return DS_OK;
}

/* Made 0666 at once, so it never exists with another mode (no thread runs
 * yet: the umask is ours to change). */
static int socket_bind_open(int fd, const struct sockaddr_un *sa)
{
	mode_t old = umask(0111);
	int bound = bind(fd, (const struct sockaddr *)sa, sizeof(*sa)), e = errno;

	umask(old);
	errno = e;
	return bound;
}

/* A stale socket is replaced; a live one or anything that is not a socket
 * is refused. World-connectable: the rules decide. */
int broker_socket_listen(const char *path, int *fd_out, struct ds_err *err)
{
	struct sockaddr_un sa;
	struct stat sb;
	int fd, rc = DS_OK;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (ds_strcpy(sa.sun_path, sizeof(sa.sun_path), path))
		return ds_err_set(err, DS_EINPUT, "The socket path %.80s is too long.", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ds_err_set(err, DS_EFAIL, "Cannot make a socket: %s.", strerror(errno));
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			rc = ds_err_set(err, DS_EFAIL, "%s exists and is not a socket.", path);
			goto out;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			rc = ds_err_set(err, DS_EFAIL, "A broker already listens on %s.", path);
			goto out;
		}
		unlink(path);
	}
	if (socket_bind_open(fd, &sa) != 0 || chmod(path, 0666) != 0 || listen(fd, 128) != 0)
		rc = ds_err_set(err, DS_EFAIL, "Cannot listen on %s: %s.", path, strerror(errno));
out:
	if (rc != DS_OK)
		close(fd);
	else
		*fd_out = fd;
	return rc;
}
