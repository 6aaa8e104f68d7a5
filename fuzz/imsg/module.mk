FUZZ += imsg
fuzz_imsg_SRCS := fuzz/imsg/fuzz_imsg.c
fuzz_imsg_LIBS := imsg
fuzz_imsg_LDLIBS :=
