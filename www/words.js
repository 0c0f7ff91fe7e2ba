// How the page writes a count in words, for its sentences and charts' summaries (in the page
// and the worker alike).

/** `n word`, the word in the plural unless n is 1: "1 image", "3 images", "1 meta-iteration". */
export const count = (n, word, plural = `${word}s`) => `${n} ${n === 1 ? word : plural}`;
