/** The four photos of a model, in the order the page shows them (`View` in photo3d_common.events). */
export const VIEWS = ["front", "left", "right", "back"] as const;
export type View = (typeof VIEWS)[number];
