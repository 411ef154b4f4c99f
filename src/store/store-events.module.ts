import { Global, Module } from '@nestjs/common';
import { StoreEventsService } from './store-events.service';

@Global()
@Module({ providers: [StoreEventsService], exports: [StoreEventsService] })
export class StoreEventsModule {}
