#!/usr/bin/perl
# SIMT build: copies a CUDA source to a C++ file, rewriting each kernel launch
#   name<<<grid, block, smem, stream>>>(args)
# as
#   ::simt::Launch("name", __FILE__, __LINE__, grid, block, smem, stream)(name, args)
# (tests/simt/simt.h). Line breaks are kept, and a #line directive names the original file,
# so compiler messages and __LINE__ point into the .cu source.
#
#   perl translate.pl SOURCE.cu OUTPUT.cpp
use strict;
use warnings;

my ($src, $out) = @ARGV;
die "usage: translate.pl SOURCE.cu OUTPUT.cpp\n" unless defined $out;
open(my $in, '<', $src) or die "translate.pl: cannot read $src: $!\n";
my $s = do { local $/; <$in> };
close($in);

my $name = qr/[A-Za-z_][\w:]*(?:<[^<>;{}()]*>)?/;
my $gap = qr/(?:\s|\\\n)*/;
my $count = 0;
$s =~ s/($name)($gap)<<<(.*?)>>>($gap)\(\s*\)/$count++; "::simt::Launch(\"$1\", __FILE__, __LINE__, $3)$2$4($1)"/gse;
$s =~ s/($name)($gap)<<<(.*?)>>>($gap)\(/$count++; "::simt::Launch(\"$1\", __FILE__, __LINE__, $3)$2$4($1, "/gse;
if ($s =~ /<<<|>>>/) {
  die "translate.pl: $src: a launch the rewrite did not understand is left\n";
}
open(my $o, '>', "$out.tmp") or die "translate.pl: cannot write $out: $!\n";
print $o "#line 1 \"$src\"\n$s";
close($o) or die "translate.pl: cannot write $out: $!\n";
rename("$out.tmp", $out) or die "translate.pl: cannot write $out: $!\n";
