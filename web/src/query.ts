import {
  QueryClient,
  type QueryKey,
  type UseQueryOptions,
  useMutation,
  useQuery,
  useQueryClient,
} from '@tanstack/react-query';
import { get } from './api.ts';

/**
 * The SPA's data layer: TanStack Query holds every server read (loading, error, refetch, polling)
 * and every write goes through a mutation that invalidates the reads it changed. A read's key is
 * `['portal', path, ...params]`, so a write names what it changed by the path it changed.
 */
export const queryClient = new QueryClient({
  defaultOptions: {
    // A failed read shows its problem at once (a 401, a 503 of a module that is off) rather than
    // after three silent retries; the pages' own refresh intervals try again where it matters.
    queries: { retry: false, refetchOnWindowFocus: false },
    mutations: { retry: false },
  },
});

export const portalKey = (path: string, ...params: unknown[]): QueryKey => ['portal', path, ...params];

/**
 * A GET of the portal API. `path` null: not asked (the page lacks what the query needs);
 * `refetchInterval`: polled while the page is open.
 */
export function usePortalQuery<T>(
  path: string | null,
  options: Omit<UseQueryOptions<T>, 'queryKey' | 'queryFn' | 'enabled'> & { params?: unknown[] } = {},
) {
  const { params = [], ...rest } = options;
  return useQuery<T>({
    queryKey: portalKey(path ?? '', ...params),
    queryFn: () => get<T>(path!),
    enabled: path !== null,
    ...rest,
  });
}

/** A write; on success the reads under `invalidates` (portal paths) are fetched again. */
export function usePortalMutation<A, R>(action: (args: A) => Promise<R>, invalidates: string[] = []) {
  const client = useQueryClient();
  return useMutation<R, unknown, A>({
    mutationFn: action,
    onSuccess: () =>
      Promise.all(invalidates.map((path) => client.invalidateQueries({ queryKey: portalKey(path) }))),
  });
}
