BENCH += khopen
bench_khopen_SRCS := bench/khopen.c
bench_khopen_LIBS := imsg
bench_khopen_LDLIBS := -lcrypto
