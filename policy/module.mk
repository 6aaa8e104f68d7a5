# policy/: the seccomp allow-lists of every process (rules.c), their loader
# (seccomp.c), dromosd's Landlock ruleset (landlock.c), and the privilege
# and capability drop helpers (privdrop.c).
# Programs linking libdromos-policy add -lseccomp -lcap.
LIBS += policy
policy_SRCS := $(wildcard policy/*.c)
