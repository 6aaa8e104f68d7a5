"""A throwaway certificate authority for the TLS tests, made with the openssl CLI.

`TestCA(directory, name)` creates a P-256 CA certificate and key in
directory; `issue(name, ...)` signs a leaf certificate for a server (with
subjectAltNames) or a client (clientAuth only); `crl(revoked, ...)` signs
a certificate revocation list.  Each returns the paths of the PEM files.  Two CAs made this way share nothing, so a certificate of one
is a stranger to the other: that is how tests get a "wrong CA".
"""
import datetime
import os
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class TestCA:
    __test__ = False	# not a pytest class

    def __init__(self, directory, name="ca"):
        self.dir = directory
        self.name = name
        self.crt = os.path.join(directory, f"{name}.crt")
        self.key = os.path.join(directory, f"{name}.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", self.key, "-out", self.crt, "-days", "2",
                 "-subj", f"/CN=Dromos test {name}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.chmod(self.key, 0o600)

    def issue(self, name, server=True, sans=("DNS:localhost", "IP:127.0.0.1"), days=2):
        """A leaf certificate and key signed by this CA: (crt, key) paths.

        A server certificate carries sans and serverAuth; a client one
        carries clientAuth only.  days=-1 makes one that has expired.
        """
        crt = os.path.join(self.dir, f"{self.name}-{name}.crt")
        key = os.path.join(self.dir, f"{self.name}-{name}.key")
        csr = os.path.join(self.dir, f"{self.name}-{name}.csr")
        ext = os.path.join(self.dir, f"{self.name}-{name}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n")
            f.write("keyUsage=critical,digitalSignature\n")
            if server:
                f.write("extendedKeyUsage=serverAuth\n")
                if sans:
                    f.write("subjectAltName=" + ",".join(sans) + "\n")
            else:
                f.write("extendedKeyUsage=clientAuth\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
        os.chmod(key, 0o600)
        if days < 0:
            # openssl x509 cannot back-date (3.0): "openssl ca" can.
            self._ca_sign(csr, crt, ext)
        else:
            _openssl("x509", "-req", "-in", csr, "-CA", self.crt, "-CAkey", self.key,
                     "-CAcreateserial", "-out", crt, "-days", str(days), "-extfile", ext)
        os.unlink(csr)
        return crt, key

    def _ca_sign(self, csr, crt, ext):
        """Sign csr with a validity that ended in 2020."""
        db = os.path.join(self.dir, f"{self.name}-db")
        os.makedirs(db, exist_ok=True)
        open(os.path.join(db, "index.txt"), "a").close()
        with open(os.path.join(db, "serial"), "w") as f:
            f.write(os.urandom(8).hex() + "\n")
        conf = os.path.join(db, "ca.cnf")
        with open(conf, "w") as f:
            f.write("[ca]\ndefault_ca=test\n[test]\n"
                    f"dir={db}\ndatabase=$dir/index.txt\nserial=$dir/serial\n"
                    "new_certs_dir=$dir\ndefault_md=sha256\npolicy=any\n"
                    "unique_subject=no\n[any]\ncommonName=supplied\n")
        _openssl("ca", "-batch", "-config", conf, "-cert", self.crt, "-keyfile", self.key,
                 "-in", csr, "-out", crt, "-extfile", ext, "-notext",
                 "-startdate", "20200101000000Z", "-enddate", "20200102000000Z")

    def crl(self, revoked=(), name="crl", days=1, expired=False, seconds=None):
        """A CRL signed by this CA that revokes the certificates whose PEM
        paths are in revoked: its path.  Its next update is days from now,
        or seconds if given; expired: it was yesterday."""
        with open(self.crt, "rb") as f:
            ca = x509.load_pem_x509_certificate(f.read())
        with open(self.key, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        if expired:
            last, nxt = now - datetime.timedelta(days=2), now - datetime.timedelta(days=1)
        else:
            last = now - datetime.timedelta(minutes=5)
            nxt = now + (datetime.timedelta(seconds=seconds) if seconds is not None
                         else datetime.timedelta(days=days))
        b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
             .last_update(last).next_update(nxt))
        for path in revoked:
            with open(path, "rb") as f:
                serial = x509.load_pem_x509_certificate(f.read()).serial_number
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(last).build())
        out = os.path.join(self.dir, f"{self.name}-{name}.pem")
        with open(out, "wb") as f:
            f.write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        return out


def install_crl(src, live):
    """Put the CRL file src in force at live as the manuals say: a new
    file beside the old one, readable by all, renamed over it."""
    import shutil
    shutil.copy(src, live + ".new")
    os.chmod(live + ".new", 0o644)
    os.rename(live + ".new", live)
