/*
 * Landlock for dromosd (policy.h): after start-up the keyholder may create
 * and write files beneath its audit log's directory, and reach nothing
 * else of the file system by path.  Its seccomp filter already allows only
 * one kind of openat(2), relative to that directory; but the path itself
 * is out of seccomp's sight, and an absolute one ignores the directory.
 * Landlock checks the path.
 */
#include <sys/syscall.h>
#include <sys/types.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "common/log.h"
#include "policy/policy.h"

/* Rights of later ABIs than the installed header may know. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER	(1ULL << 13)	/* ABI 2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)	/* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV	(1ULL << 15)	/* ABI 5 */
#endif

/* Every file-system right the running kernel can refuse. */
static uint64_t
fs_rights(long abi)
{
	uint64_t	 r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;	/* ABI 1 */

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

int
policy_landlock_audit(int dirfd)
{
	struct landlock_ruleset_attr		 attr;
	struct landlock_path_beneath_attr	 pb;
	long					 abi;
	int					 rs, rv = -1;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1) {
		if (errno != ENOSYS && errno != EOPNOTSUPP) {
			log_warn("landlock");
			return -1;
		}
		log_info("landlock is not available (%s): the next audit "
		    "log's path is not checked, only its directory and flags",
		    strerror(errno));
		return 1;
	}
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = fs_rights(abi);
	if ((rs = (int)syscall(SYS_landlock_create_ruleset, &attr,
	    sizeof(attr), 0)) == -1) {
		log_warn("landlock_create_ruleset");
		return -1;
	}
	memset(&pb, 0, sizeof(pb));
	pb.allowed_access = LANDLOCK_ACCESS_FS_MAKE_REG |
	    LANDLOCK_ACCESS_FS_WRITE_FILE;
	pb.parent_fd = dirfd;
	if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH,
	    &pb, 0) == -1)
		log_warn("landlock_add_rule");
	else if (syscall(SYS_landlock_restrict_self, rs, 0) == -1)
		log_warn("landlock_restrict_self");
	else
		rv = 0;
	close(rs);
	return rv;
}
