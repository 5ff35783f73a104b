/* pam_dashscope: gives a login session its region's endpoint variables by
 * running the helper as the user; never a key. (Being filled in by the
 * "PAM session module" issue: for now it does nothing and says so.) */
#include "config.h"

#define PAM_SM_SESSION
#include <security/pam_modules.h>
#include <security/pam_ext.h>
#include <syslog.h>

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)flags;
	(void)argc;
	(void)argv;
	pam_syslog(pamh, LOG_DEBUG, "not implemented yet");
	return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}
