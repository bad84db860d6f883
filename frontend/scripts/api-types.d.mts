export declare const SERVICES: readonly string[];
export declare const GENERATED: URL;
export declare function render(service: string): Promise<string>;
export declare function generatedFile(service: string): URL;
