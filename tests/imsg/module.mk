UNITS += imsg
test_imsg_SRCS := tests/imsg/test_imsg.c
test_imsg_LIBS := imsg
test_imsg_LDLIBS :=
