/**
 * The fixed content of the bookinfo sample: one book, its details, two reviews and the star
 * rating each reviewer gave. Every product id answers with the same book (as Istio's Bookinfo
 * does); only the id is echoed back.
 */
export interface Product {
  readonly id: number;
  readonly title: string;
  readonly descriptionHtml: string;
}

export const PRODUCTS: readonly Product[] = [
  {
    id: 0,
    title: 'The Comedy of Errors',
    descriptionHtml:
      'Two sets of identical twins, separated as infants, turn up in the same town on the same day: ' +
      'one of <a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Shakespeare\'s</a> earliest ' +
      'and shortest plays, and a farce from first scene to last.',
  },
];

export function productById(id: number): Product {
  return { ...PRODUCTS[0], id };
}

export function bookDetails(id: number): Record<string, string | number> {
  return {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'Mizzen Sample Press',
    language: 'English',
    'ISBN-10': '0000000000',
    'ISBN-13': '000-0000000000',
  };
}

export interface ReviewText {
  readonly reviewer: string;
  readonly text: string;
}

export const REVIEWS: readonly ReviewText[] = [
  {
    reviewer: 'Reviewer1',
    text: 'The mix-ups pile up faster than you can count them, and every one of them lands.',
  },
  {
    reviewer: 'Reviewer2',
    text: 'Short, quick and still funny on the page; a good first Shakespeare for anyone.',
  },
];

/** Stars (1..5) each reviewer gave, whatever the product. */
export const RATINGS: Readonly<Record<string, number>> = { Reviewer1: 5, Reviewer2: 4 };

/** Product ids are non-negative integers; anything else is the caller's mistake. */
export function parseProductId(text: string): number | undefined {
  if (!/^\d{1,9}$/.test(text)) return undefined;
  return Number(text);
}

/** Pod name reported in responses: POD_NAME if set, else `<name>-<version>`. */
export function podName(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  version: string,
): string {
  return env.POD_NAME?.trim() || `${name}-${version}`;
}
