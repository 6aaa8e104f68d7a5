# Unit tests of policy/: the filters, capabilities and privilege drop are
# exercised in forked children (tests/policy/child.c).
UNITS += policy
test_policy_SRCS := $(wildcard tests/policy/*.c)
test_policy_LIBS := policy common
test_policy_LDLIBS := -lseccomp -lcap
