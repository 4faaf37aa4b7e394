#!/bin/bash
# Counts the instructions one benchmark iteration costs, with callgrind
# (valgrind), by running N and 3N iterations and dividing the difference:
# a figure that machine noise does not move (GC pacing moves it by a few
# percent). Build the test binary first: go test -c -o /tmp/pb.test .
# usage: icount.sh testbinary benchregex  -> instructions per op (diff of 20000 and 60000 iterations)
bin=$1; b=$2
c() { GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null $bin -test.run '^$' -test.bench "$b" -test.benchtime ${1}x 2>&1 | awk '/Collected/{print $4}'; }
a=$(c 20000); z=$(c 60000)
echo "$b $(( (z-a)/40000 )) instr/op"
