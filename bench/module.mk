BENCH += khopen
bench_khopen_SRCS := bench/khopen.c
bench_khopen_LIBS := imsg
bench_khopen_LDLIBS := -lcrypto

BENCH += loadgen
bench_loadgen_SRCS := bench/loadgen.c
bench_loadgen_LIBS :=
bench_loadgen_LDLIBS := -pthread
