FUZZ += conf
fuzz_conf_SRCS := fuzz/conf/fuzz_conf.c
fuzz_conf_LIBS := priv common
fuzz_conf_LDLIBS := -lcrypto
