/*
 * dromosctl key seal-tpm: seal a root key in the TPM (priv/tpm.h) and
 * write the blob that "root key tpm" in dromos.conf names.
 */
#ifndef DROMOS_CTL_KEY_TPM_H
#define DROMOS_CTL_KEY_TPM_H

#define KEY_SEAL_TPM_USAGE \
	"[-k ROOTKEYFILE] [--tcti TCTI] [--pcrs sha256:N[,N...]] BLOBFILE"

/*
 * The handler of "key seal-tpm", called as ctl/dromosctl.h describes
 * (argv[0] is "seal-tpm").  Returns 0, 1, or CTL_USAGE.
 */
int	 cmd_key_seal_tpm(int argc, char *argv[]);

#endif /* DROMOS_CTL_KEY_TPM_H */
