/*
 * Landlock (policy.h): after start-up a process reaches the file system by
 * path only beneath the directories it names, and only as it says there.
 * dromosd may create and write files beneath its audit log's directory:
 * its seccomp filter allows one kind of openat(2), relative to that
 * directory, but the path is out of seccomp's sight, and an absolute one
 * ignores the directory.  dromos-gateway and dromos-broker may read beneath
 * a few directories (and the broker a few files).
 */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
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

/*
 * One path's rule: what may be done beneath a directory, or to a file
 * (Landlock refuses a directory's rights on a file).
 */
static int
add_rule(int rs, const struct policy_path *p)
{
	struct landlock_path_beneath_attr	 pb;
	struct stat				 sb;
	int					 fd = p->fd, rv = -1;

	if (p->path != NULL &&
	    (fd = open(p->path, O_PATH | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;	/* nothing there to reach */
		log_warn("landlock: %s", p->path);
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		log_warn("landlock: %s", p->path != NULL ? p->path :
		    "(descriptor)");
		goto done;
	}
	memset(&pb, 0, sizeof(pb));
	if (p->access & POLICY_FS_READ)
		pb.allowed_access |= LANDLOCK_ACCESS_FS_READ_FILE |
		    (S_ISDIR(sb.st_mode) ? LANDLOCK_ACCESS_FS_READ_DIR : 0);
	if (p->access & POLICY_FS_CREATE)
		pb.allowed_access |= LANDLOCK_ACCESS_FS_WRITE_FILE |
		    (S_ISDIR(sb.st_mode) ? LANDLOCK_ACCESS_FS_MAKE_REG : 0);
	pb.parent_fd = fd;
	if ((rv = (int)syscall(SYS_landlock_add_rule, rs,
	    LANDLOCK_RULE_PATH_BENEATH, &pb, 0)) == -1)
		log_warn("landlock_add_rule %s", p->path != NULL ? p->path :
		    "(descriptor)");
 done:
	if (p->path != NULL)
		close(fd);
	return rv == -1 ? -1 : 0;
}

int
policy_landlock(const struct policy_path *paths, size_t n)
{
	struct landlock_ruleset_attr	 attr;
	long				 abi;
	size_t				 i;
	int				 rs, rv = -1;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1) {
		if (errno != ENOSYS && errno != EOPNOTSUPP) {
			log_warn("landlock");
			return -1;
		}
		log_info("landlock is not available (%s): paths are not "
		    "restricted, only system calls", strerror(errno));
		return 1;
	}
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = fs_rights(abi);
	if ((rs = (int)syscall(SYS_landlock_create_ruleset, &attr,
	    sizeof(attr), 0)) == -1) {
		log_warn("landlock_create_ruleset");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (add_rule(rs, &paths[i]) == -1)
			goto done;
	if (syscall(SYS_landlock_restrict_self, rs, 0) == -1)
		log_warn("landlock_restrict_self");
	else
		rv = 0;
 done:
	close(rs);
	return rv;
}

int
policy_landlock_audit(int dirfd)
{
	const struct policy_path	 p = { NULL, dirfd, POLICY_FS_CREATE };

	return policy_landlock(&p, 1);
}
