FUZZ += sealed
fuzz_sealed_SRCS := fuzz/sealed/fuzz_sealed.c
fuzz_sealed_LIBS := priv common
fuzz_sealed_LDLIBS := -lsodium -lcrypto
