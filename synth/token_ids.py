"""The special token ids every tokenizer, model, loss and decoder in synth agrees on (T5's
convention): padding is 0, end of sequence 1, unknown 2, and there is no beginning-of-sequence id.

A leaf module, so that the models and decoders can read them without importing the data layer;
synth/data/tokenizer.py makes every SentencePiece model it trains or loads use them.
"""

# Padding: a position holding it is no token (a key mask is tokens != PAD_ID); a decoder's
# first input position also holds it, as the start token.
PAD_ID = 0
# End of sequence: ends every target and every decoded row.
EOS_ID = 1
# Unknown: what a text piece outside the vocabulary becomes.
UNK_ID = 2
