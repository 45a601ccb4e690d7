import { useQueryClient } from '@tanstack/react-query';
import { createContext, type ReactNode, useCallback, useContext, useEffect, useRef, useState } from 'react';
import { ApiError, get, type Me, type PortalConfig } from './api.ts';

interface SessionState {
  config: PortalConfig | null;
  me: Me | null;
  /** True until the first /me answer. */
  loading: boolean;
  refresh(): Promise<Me | null>;
  setMe(me: Me | null): void;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [config, setConfig] = useState<PortalConfig | null>(null);
  const [me, setMeState] = useState<Me | null>(null);
  const [loading, setLoading] = useState(true);
  const client = useQueryClient();
  // After a log-out (or another user's log-in) nothing the previous user read is shown: the cache
  // is emptied before the pages render for the new session. Signed out, it holds public reads only.
  const userId = useRef<string | undefined>(undefined);
  const setMe = useCallback(
    (next: Me | null) => {
      if (userId.current !== undefined && userId.current !== next?.user.id) {
        client.removeQueries({ queryKey: ['portal'] });
      }
      userId.current = next?.user.id;
      setMeState(next);
    },
    [client],
  );

  const refresh = useCallback(async () => {
    try {
      const value = await get<Me>('/me');
      setMe(value);
      return value;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) setMe(null);
      return null;
    } finally {
      setLoading(false);
    }
  }, [setMe]);

  useEffect(() => {
    get<PortalConfig>('/config').then((value) => {
      setConfig(value);
      document.documentElement.style.setProperty('--brand', value.branding.primaryColor);
      refresh();
    });
  }, [refresh]);

  return (
    <SessionContext.Provider value={{ config, me, loading, refresh, setMe }}>
      {children}
    </SessionContext.Provider>
  );
}

export function useSession(): SessionState {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}
