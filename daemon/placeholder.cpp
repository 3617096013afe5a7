namespace seqd {}
